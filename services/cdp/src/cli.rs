use clap::{Parser, Subcommand};

/// Customer Data Platform server. With no configuration it keeps its data in SQLite under
/// ./data and listens on 127.0.0.1:8080; see the README for every setting.
#[derive(Debug, Parser)]
#[command(name = "cdp", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies migrations first): every role in one process, or the ones
    /// `--roles` names, so that each can run and scale on its own against one PostgreSQL.
    Serve {
        /// Comma-separated: `ingest` (the tracking, webhook and import APIs), `api` (the
        /// management API), `projector`, `dispatcher`. Health and metrics are always served.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "ingest,api,projector,dispatcher"
        )]
        roles: Vec<Role>,
    },
    /// Print the effective configuration (defaults, `cdp.toml`, then `CDP_` variables),
    /// secrets masked, as TOML.
    Config,
    /// Apply database migrations and exit.
    Migrate,
    /// Import a file of historical data into a tenant, with a progress bar.
    Import(ImportArgs),
    /// Run only the projector role (more projector processes can share one PostgreSQL).
    Project,
    /// Rebuild a tenant's profiles from its log under its current identity rules; the old
    /// profiles serve reads until the new ones have caught up and take over.
    Rebuild {
        /// The tenant id (`ten_…`).
        #[arg(long)]
        tenant: String,
    },
    /// Manage tenants (workspaces).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Platform administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Key rotation, while everything keeps running; no event is re-encrypted.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// A part of the server that `cdp serve --roles` can run alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Ingest,
    Api,
    Projector,
    Dispatcher,
}

/// Which roles one process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    pub ingest: bool,
    pub api: bool,
    pub projector: bool,
    pub dispatcher: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        ingest: true,
        api: true,
        projector: true,
        dispatcher: true,
    };

    pub fn of(roles: &[Role]) -> Roles {
        Roles {
            ingest: roles.contains(&Role::Ingest),
            api: roles.contains(&Role::Api),
            projector: roles.contains(&Role::Projector),
            dispatcher: roles.contains(&Role::Dispatcher),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Give a tenant's key a new version, rewrap its data keys under it, and destroy the
    /// old version once nothing is wrapped under it.
    RotateTenant {
        /// The tenant id (`ten_…`).
        tenant: String,
    },
    /// Rewrap every tenant key and signing key under the configured master key. Start
    /// every process with the new key as CDP_MASTER_KEY and the old one as
    /// CDP_PREVIOUS_MASTER_KEY first; drop the old one once this reports nothing left.
    RotateMaster,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a platform admin; prints a one-time password, to be changed at first sign-in.
    Create {
        /// The admin's e-mail address.
        email: String,
    },
    /// Start signing access tokens with a new key (tokens already issued stay valid).
    RotateSigningKey,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; prints its id, a write key and an owner API key as JSON.
    Create {
        /// The workspace's display name.
        name: String,
        /// Make this person its owner (a new user gets a one-time password, printed once).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Set a tenant's quotas (they apply within seconds, on every ingest process).
    Limit {
        /// The tenant id (`ten_…`).
        tenant: String,
        /// Sustained events per second.
        #[arg(long)]
        events_per_second: Option<u32>,
        /// Events allowed at once on top of the rate (default: twice the rate).
        #[arg(long)]
        burst: Option<u32>,
        /// Bytes of sealed events the tenant may keep.
        #[arg(long)]
        storage_bytes: Option<u64>,
    },
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file: NDJSON of tracking-spec events, or CSV of profiles (`.gz` is read
    /// compressed). `-` reads standard input.
    pub file: std::path::PathBuf,
    /// The tenant id (`ten_…`).
    #[arg(long)]
    pub tenant: String,
    /// `ndjson` or `csv`; by default taken from the file name.
    #[arg(long)]
    pub format: Option<String>,
    /// For CSV: the column mapping as JSON, or `@path` of a file holding it.
    #[arg(long)]
    pub mapping: Option<String>,
    /// The source to attribute the events to (`src_…`).
    #[arg(long)]
    pub source: Option<String>,
}
