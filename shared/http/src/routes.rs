//! Routes registered and described in one step: every role registers its endpoints through
//! [`Routes`], which hands them to actix-web when serving and records what each takes and
//! answers when the OpenAPI document is built. A route cannot exist without a description,
//! since both come from the same call.

use actix_web::{FromRequest, Handler, Responder, web};
use serde_json::{Value, json};
use utoipa::openapi::path::ParameterIn;
use utoipa::{IntoParams, ToSchema};

/// What a response carries.
#[derive(Clone, Debug)]
pub enum Content {
    /// `application/json` with this schema.
    Json(Value),
    /// A body of this media type that is not JSON (NDJSON, server-sent events, the
    /// metrics' text, a page).
    Raw(&'static str),
    /// No body.
    Empty,
}

impl Content {
    /// A JSON object whose fields the document leaves open.
    pub fn object() -> Content {
        Content::Json(json!({"type": "object"}))
    }
}

/// One method on one path, as the OpenAPI document describes it.
#[derive(Clone, Debug)]
pub struct Operation {
    pub method: &'static str,
    /// With `{…}` for path parameters, as actix-web writes them.
    pub path: String,
    pub tag: &'static str,
    pub summary: String,
    /// The body's schema, when the operation takes one.
    pub body: Option<Value>,
    /// The media types the body may come as.
    pub body_media: &'static [&'static str],
    /// Whether the body may be left out.
    pub body_optional: bool,
    /// Query parameters, as OpenAPI parameter objects.
    pub query: Vec<Value>,
    /// Success responses by status.
    pub responses: Vec<(u16, Content)>,
    /// Error statuses this operation has beyond the ones its kind always has.
    pub errors: Vec<u16>,
    /// Schemas the body refers to, by name.
    pub components: Vec<(String, Value)>,
}

impl Operation {
    pub fn summary(&mut self, summary: impl Into<String>) -> &mut Self {
        self.summary = summary.into();
        self
    }

    /// A body that is not JSON (a file to import): a string in one of these media types.
    pub fn raw_body(&mut self, media: &'static [&'static str]) -> &mut Self {
        self.body = Some(json!({"type": "string"}));
        self.body_media = media;
        self
    }

    /// The JSON body, its schema derived from the type the handler reads.
    pub fn body<T: ToSchema>(&mut self) -> &mut Self {
        let mut nested = Vec::new();
        T::schemas(&mut nested);
        for (name, schema) in nested {
            self.components.push((name, to_json(&schema)));
        }
        self.body = Some(to_json(&T::schema()));
        self
    }

    /// A JSON body with a schema written out (for bodies read by hand, not by a type).
    pub fn body_schema(&mut self, schema: Value) -> &mut Self {
        self.body = Some(schema);
        self
    }

    /// A JSON body the document describes as an open object.
    pub fn any_body(&mut self) -> &mut Self {
        self.body = Some(json!({"type": "object"}));
        self
    }

    /// The body may be left out.
    pub fn optional_body(&mut self) -> &mut Self {
        self.body_optional = true;
        self
    }

    /// Query parameters, derived from the type the handler reads.
    pub fn query<T: IntoParams>(&mut self) -> &mut Self {
        for parameter in T::into_params(|| Some(ParameterIn::Query)) {
            self.query.push(to_json(&parameter));
        }
        self
    }

    pub fn answers(&mut self, status: u16, content: Content) -> &mut Self {
        self.responses.push((status, content));
        self
    }

    /// `200` with a JSON object.
    pub fn ok(&mut self) -> &mut Self {
        self.answers(200, Content::object())
    }

    /// `201` with a JSON object.
    pub fn created(&mut self) -> &mut Self {
        self.answers(201, Content::object())
    }

    /// `204`.
    pub fn no_content(&mut self) -> &mut Self {
        self.answers(204, Content::Empty)
    }

    /// An error status particular to this operation.
    pub fn error(&mut self, status: u16) -> &mut Self {
        self.errors.push(status);
        self
    }
}

fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("a schema serializes")
}

/// Registers routes with actix-web (when serving) and records their descriptions.
pub struct Routes<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    tag: &'static str,
    operations: Vec<Operation>,
}

impl<'a> Routes<'a> {
    /// Registers on `cfg` as well as describing.
    pub fn serving(cfg: &'a mut web::ServiceConfig) -> Self {
        Routes {
            cfg: Some(cfg),
            tag: "",
            operations: Vec::new(),
        }
    }

    /// Only describes: for building the document.
    pub fn describing() -> Routes<'static> {
        Routes {
            cfg: None,
            tag: "",
            operations: Vec::new(),
        }
    }

    pub fn into_operations(self) -> Vec<Operation> {
        self.operations
    }

    /// The group the following operations are listed under.
    pub fn tag(&mut self, tag: &'static str) -> &mut Self {
        self.tag = tag;
        self
    }

    /// An operation whose actix-web registration is the caller's own (a resource with a
    /// fallback, say); `register` runs only when serving.
    pub fn custom(
        &mut self,
        method: &'static str,
        path: impl Into<String>,
        register: impl FnOnce(&mut web::ServiceConfig),
    ) -> &mut Operation {
        if let Some(cfg) = self.cfg.as_deref_mut() {
            register(cfg);
        }
        self.operations.push(Operation {
            method,
            path: path.into(),
            tag: self.tag,
            summary: String::new(),
            body: None,
            body_media: &["application/json"],
            body_optional: false,
            query: Vec::new(),
            responses: Vec::new(),
            errors: Vec::new(),
            components: Vec::new(),
        });
        self.operations.last_mut().expect("just pushed")
    }

    fn route<F, Args>(
        &mut self,
        method: &'static str,
        path: &str,
        route: fn() -> actix_web::Route,
        handler: F,
    ) -> &mut Operation
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let owned = path.to_owned();
        self.custom(method, path, move |cfg| {
            cfg.route(&owned, route().to(handler));
        })
    }

    pub fn get<F, Args>(&mut self, path: &str, handler: F) -> &mut Operation
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route("GET", path, web::get, handler)
    }

    pub fn post<F, Args>(&mut self, path: &str, handler: F) -> &mut Operation
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route("POST", path, web::post, handler)
    }

    pub fn put<F, Args>(&mut self, path: &str, handler: F) -> &mut Operation
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route("PUT", path, web::put, handler)
    }

    pub fn patch<F, Args>(&mut self, path: &str, handler: F) -> &mut Operation
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route("PATCH", path, web::patch, handler)
    }

    pub fn delete<F, Args>(&mut self, path: &str, handler: F) -> &mut Operation
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route("DELETE", path, web::delete, handler)
    }
}
