use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A secret presented in the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub enum Presented {
    /// `Basic base64(user:password)`: the user name is the secret (the tracking spec's way
    /// of sending a write key); the password is ignored.
    Basic(String),
    /// `Bearer token`.
    Bearer(String),
    /// An `Authorization` header that is neither.
    Malformed,
}

impl Presented {
    pub fn secret(&self) -> Option<&str> {
        match self {
            Presented::Basic(s) | Presented::Bearer(s) => Some(s),
            Presented::Malformed => None,
        }
    }
}

// Never print the secret.
impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Presented::Basic(_) => "Basic(…)",
            Presented::Bearer(_) => "Bearer(…)",
            Presented::Malformed => "Malformed",
        })
    }
}

/// The credential of the `Authorization` header, or `None` when there is no header.
pub fn presented_credential(request: &HttpRequest) -> Option<Presented> {
    let header = request.headers().get(AUTHORIZATION)?;
    let Ok(text) = header.to_str() else {
        return Some(Presented::Malformed);
    };
    let (scheme, rest) = text.trim().split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    Some(if scheme.eq_ignore_ascii_case("basic") {
        match STANDARD
            .decode(rest)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
        {
            Some(decoded) => {
                let user = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
                if user.is_empty() {
                    Presented::Malformed
                } else {
                    Presented::Basic(user.to_owned())
                }
            }
            None => Presented::Malformed,
        }
    } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        Presented::Bearer(rest.to_owned())
    } else {
        Presented::Malformed
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn presented(header: &str) -> Option<Presented> {
        presented_credential(
            &TestRequest::default()
                .insert_header((AUTHORIZATION, header))
                .to_http_request(),
        )
    }

    #[test]
    fn reads_basic_and_bearer() {
        let basic = format!("Basic {}", STANDARD.encode("cdp_wk_abc:"));
        assert_eq!(
            presented(&basic),
            Some(Presented::Basic("cdp_wk_abc".into()))
        );
        let with_password = format!("Basic {}", STANDARD.encode("cdp_wk_abc:ignored"));
        assert_eq!(
            presented(&with_password),
            Some(Presented::Basic("cdp_wk_abc".into()))
        );
        assert_eq!(
            presented("Bearer cdp_sk_x"),
            Some(Presented::Bearer("cdp_sk_x".into()))
        );
        assert_eq!(
            presented("bearer  cdp_sk_x "),
            Some(Presented::Bearer("cdp_sk_x".into()))
        );
    }

    #[test]
    fn anything_else_is_malformed() {
        for header in [
            "Basic !!!",
            "Basic ",
            "Bearer",
            "Token abc",
            "Basic OmFiYw==",
        ] {
            assert_eq!(presented(header), Some(Presented::Malformed), "{header}");
        }
        assert_eq!(
            presented_credential(&TestRequest::default().to_http_request()),
            None
        );
    }
}
