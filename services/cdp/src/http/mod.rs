//! The HTTP application: every role's routes on one server.

mod health;
mod problem;

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::{Error, Runtime};

pub struct Application {
    addr: SocketAddr,
    server: Server,
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and prepares the server.
    pub async fn build(runtime: Runtime, addr: SocketAddr) -> Result<Application, Error> {
        let listener = TcpListener::bind(addr).map_err(|source| Error::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let addr = listener.local_addr().map_err(Error::Server)?;
        let state = web::Data::new(runtime);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .configure(health::routes)
                .default_service(web::to(problem::not_found))
        })
        .listen(listener)
        .map_err(Error::Server)?
        .run();
        tracing::info!(address = %addr, "listening on http://{addr}");
        Ok(Application { addr, server })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the process is asked to stop (SIGINT or SIGTERM); in-flight requests
    /// are finished first.
    pub async fn run_until_stopped(self) -> Result<(), Error> {
        self.server.await.map_err(Error::Server)
    }
}
