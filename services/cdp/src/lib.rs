//! The `cdp` binary's library: command-line commands, start-up, and the HTTP application
//! that composes every role. Tests start the same [`Application`] the binary does.

pub mod cli;
mod dispatch;
mod error;
mod http;
mod import;
mod projection;
mod runtime;

pub use error::{Error, error_chain};
pub use http::Application;
pub use http::openapi::document as openapi_document;
pub use runtime::Runtime;

use cdp_audit::{Actor, AuditEntry, Chain, Outcome};
use cdp_config::Config;
use cdp_domain::{Email, Role, TenantId, TenantName};

use crate::cli::{AdminCommand, Command, KeysCommand, Roles, TenantCommand};

/// Runs one command to completion.
pub async fn run(command: Command, config: Config) -> Result<(), Error> {
    match command {
        Command::Serve { roles } => {
            let runtime = Runtime::start(&config).await?;
            bootstrap_admin(&runtime, &config).await?;
            let app = Application::build_with_roles(runtime, &config, Roles::of(&roles)).await?;
            app.run_until_stopped().await
        }
        Command::Config => {
            print!("{}", config.to_toml());
            Ok(())
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
        Command::Project => {
            let runtime = Runtime::start(&config).await?;
            projection::run_alone(runtime, &config).await
        }
        Command::Rebuild { tenant } => {
            let tenant: TenantId = tenant.parse()?;
            let runtime = Runtime::start(&config).await?;
            let outcome = projection::rebuild(&runtime, &config, tenant).await?;
            cli_audit(
                &runtime,
                "projection.rebuild",
                Some(("tenant", tenant.to_string())),
            )
            .await?;
            println!("{outcome}");
            Ok(())
        }
        Command::Migrate => {
            Runtime::start(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::Create { name, owner },
        } => {
            let name = TenantName::parse(&name)?;
            let owner = owner.as_deref().map(Email::parse).transpose()?;
            let runtime = Runtime::start(&config).await?;
            let created = cdp_tenancy::create_tenant(&runtime.db, &runtime.keyring, name).await?;
            let mut shown = created.to_json();
            if let Some(email) = owner {
                let invited =
                    cdp_auth::invite_member(&runtime.db, created.tenant_id, &email, Role::Owner)
                        .await?;
                shown["owner"] = serde_json::json!({
                    "user_id": invited.user_id,
                    "email": email.as_str(),
                    "one_time_password": invited.one_time_password,
                });
            }
            cli_audit(
                &runtime,
                "tenant.create",
                Some(("tenant", created.tenant_id.to_string())),
            )
            .await?;
            println!("{shown}");
            Ok(())
        }
        Command::Tenant {
            command:
                TenantCommand::Limit {
                    tenant,
                    events_per_second,
                    burst,
                    storage_bytes,
                },
        } => {
            let tenant: TenantId = tenant.parse()?;
            let runtime = Runtime::start(&config).await?;
            let quotas = cdp_tenancy::Quotas {
                events_per_second,
                burst,
                storage_bytes,
            };
            cdp_tenancy::set_quotas(&runtime.db, tenant, quotas).await?;
            cli_audit(
                &runtime,
                "tenant.quotas",
                Some(("tenant", tenant.to_string())),
            )
            .await?;
            println!(
                "{}",
                serde_json::json!({"tenant_id": tenant, "quotas": cdp_tenancy::quotas(&runtime.db, tenant).await?})
            );
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Create { email },
        } => {
            let email = Email::parse(&email)?;
            let runtime = Runtime::start(&config).await?;
            let invited = cdp_auth::create_platform_admin(&runtime.db, &email).await?;
            cli_audit(
                &runtime,
                "admin.create",
                Some(("user", invited.user_id.to_string())),
            )
            .await?;
            println!(
                "{}",
                serde_json::json!({
                    "user_id": invited.user_id,
                    "email": email.as_str(),
                    "one_time_password": invited.one_time_password,
                })
            );
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::RotateSigningKey,
        } => {
            let runtime = Runtime::start(&config).await?;
            let authenticator = cdp_auth::Authenticator::new(
                runtime.db.clone(),
                runtime.keyring.clone(),
                None,
                cdp_auth::AuthOptions::default(),
            );
            let kid = authenticator.rotate_signing_key().await?;
            cli_audit(&runtime, "signing_key.rotate", None).await?;
            println!("{}", serde_json::json!({ "kid": kid }));
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::RotateTenant { tenant },
        } => {
            let tenant: TenantId = tenant.parse()?;
            let runtime = Runtime::start(&config).await?;
            let rotation = runtime
                .keyring
                .rotate_tenant_key(tenant, cdp_keyring::SHREDDED_EVERYWHERE_AFTER)
                .await?;
            let shown = serde_json::to_value(&rotation).expect("a rotation serializes");
            cli_audit_with(
                &runtime,
                "tenant_key.rotate",
                Some(("tenant", tenant.to_string())),
                shown.clone(),
            )
            .await?;
            println!("{shown}");
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::RotateMaster,
        } => {
            let runtime = Runtime::start(&config).await?;
            let rotation = runtime.keyring.rewrap_under_current_master().await?;
            let signing_keys = cdp_auth::reseal_signing_keys(&runtime.db, &runtime.keyring).await?;
            let keyring = &runtime.keyring;
            let destination_secrets = cdp_destinations::store::reseal_secrets(
                &runtime.db,
                keyring.master_key_id(),
                |id, from, sealed| {
                    if !keyring.knows_master_key(from) {
                        return None;
                    }
                    keyring
                        .reseal_platform_secret(cdp_destinations::SECRET_PURPOSE, id, from, sealed)
                        .ok()
                },
            )
            .await
            .map_err(cdp_dispatcher::DispatchError::from)?;
            let mut shown = serde_json::to_value(&rotation).expect("a rotation serializes");
            shown["signing_keys_rewrapped"] = serde_json::json!(signing_keys);
            shown["destination_secrets_rewrapped"] = serde_json::json!(destination_secrets);
            cli_audit_with(&runtime, "master_key.rotate", None, shown.clone()).await?;
            println!("{shown}");
            Ok(())
        }
    }
}

/// Records an action taken from the command line in the platform's audit log.
async fn cli_audit(
    runtime: &Runtime,
    action: &str,
    target: Option<(&str, String)>,
) -> Result<(), Error> {
    cli_audit_with(runtime, action, target, serde_json::json!({})).await
}

/// [`cli_audit`] with details (ids and counts, never key material or personal data).
async fn cli_audit_with(
    runtime: &Runtime,
    action: &str,
    target: Option<(&str, String)>,
    details: serde_json::Value,
) -> Result<(), Error> {
    let entry = AuditEntry::of(
        Actor::cli(),
        None,
        action,
        target,
        Outcome::Success,
        details,
    );
    cdp_audit::append_now(&runtime.db, Chain::Platform, entry).await?;
    Ok(())
}

/// The first platform admin from configuration (`CDP_ADMIN_EMAIL`, `CDP_ADMIN_PASSWORD`),
/// created at start while no platform admin exists.
async fn bootstrap_admin(runtime: &Runtime, config: &Config) -> Result<(), Error> {
    let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) else {
        return Ok(());
    };
    let email = Email::parse(email)?;
    if cdp_auth::bootstrap_platform_admin(&runtime.db, &email, password.expose()).await? {
        tracing::info!("created the first platform admin from configuration");
        cli_audit(runtime, "admin.bootstrap", None).await?;
    }
    Ok(())
}
