//! The `cdp` binary's library: command-line commands, start-up, and the HTTP application
//! that composes every role. Tests start the same [`Application`] the binary does.

pub mod cli;
mod error;
mod http;
mod import;
mod runtime;

pub use error::{Error, error_chain};
pub use http::Application;
pub use runtime::Runtime;

use cdp_config::Config;
use cdp_domain::{TenantId, TenantName};

use crate::cli::{Command, TenantCommand};

/// Runs one command to completion.
pub async fn run(command: Command, config: Config) -> Result<(), Error> {
    match command {
        Command::Serve => {
            let runtime = Runtime::start(&config).await?;
            let app = Application::build(runtime, &config).await?;
            app.run_until_stopped().await
        }
        Command::Import(args) => {
            let job = import::import(args, &config).await?;
            println!(
                "{}",
                serde_json::to_string(&job).expect("an import job serializes")
            );
            if job.failure.is_some() {
                return Err(Error::Import(job.failure.unwrap_or_default()));
            }
            Ok(())
        }
        Command::Migrate => {
            Runtime::start(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::Create { name },
        } => {
            let name = TenantName::parse(&name)?;
            let runtime = Runtime::start(&config).await?;
            let created = cdp_tenancy::create_tenant(&runtime.db, &runtime.keyring, name).await?;
            println!("{}", created.to_json());
            Ok(())
        }
        Command::Tenant {
            command:
                TenantCommand::Limit {
                    tenant,
                    events_per_second,
                    burst,
                },
        } => {
            let tenant: TenantId = tenant.parse()?;
            let burst = burst.unwrap_or(events_per_second.saturating_mul(2));
            let runtime = Runtime::start(&config).await?;
            cdp_tenancy::set_ingest_limit(&runtime.db, tenant, events_per_second, burst).await?;
            println!(
                "{}",
                serde_json::json!({"tenant_id": tenant, "events_per_second": events_per_second, "burst": burst})
            );
            Ok(())
        }
    }
}
