//! `fleetlog-collector user add | list | set-role | disable | enable`: manage users from
//! the command line, on the same store a running collector uses (SQLite waits for the
//! write lock; PostgreSQL is concurrent anyway). Each change writes an audit row as
//! `cli:<OS user>`.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::auth::{Principal, Role, check_password_policy, password, valid_user_name};
use crate::config::{self, set_key};
use crate::store::Store;
use crate::store::audit::AuditEntry;
use crate::store::auth::UserChange;

/// Where the store is: the same flags as `serve`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// TOML config file (the one `serve` uses).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (SQLite database).
    #[arg(long = "data-dir", global = true)]
    data_dir: Option<PathBuf>,
    /// Store URL: sqlite://FILE or postgres://...
    #[arg(long = "store-url", global = true)]
    store_url: Option<String>,
}

/// `fleetlog-collector user ...`
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; asks for the password twice unless --password-stdin.
    Add {
        name: String,
        /// admin, analyst or viewer.
        #[arg(long)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Change a user's role.
    SetRole { name: String, role: Role },
    /// Disable a user: its sessions end and its API tokens stop working.
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Set a new password; asks twice unless --password-stdin.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        &Role::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// Runs a `user` subcommand to completion.
pub fn run(args: UserArgs) -> anyhow::Result<()> {
    let mut flags = toml::Table::new();
    for (key, value) in [
        (
            "data_dir",
            args.store.data_dir.map(|p| p.display().to_string()),
        ),
        ("store_url", args.store.store_url),
    ] {
        if let Some(v) = value {
            set_key(&mut flags, key, toml::Value::String(v));
        }
    }
    let cfg = config::load(
        args.store.config.as_deref(),
        |k| std::env::var(k).ok(),
        flags,
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
        let store = Store::open_with(&cfg.store_url, cfg.data_dir.join("archive"), cfg.store)
            .await
            .with_context(|| format!("opening the store {}", config::redact_url(&cfg.store_url)))?;
        let result = command(&store, args.command).await;
        store.close().await;
        result
    })
}

async fn command(store: &Store, command: UserCommand) -> anyhow::Result<()> {
    let me = Principal::cli(&os_user());
    let now = crate::now_ms();
    let mut out = std::io::stdout().lock();
    match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            if !valid_user_name(&name) {
                bail!("user name must be 1-64 characters from letters, digits and ._@-");
            }
            let pw = read_password(password_stdin)?;
            let hash = tokio::task::spawn_blocking(move || password::hash(&pw)).await??;
            let audit = AuditEntry::new(&me, None, "user.create", format!("user:{name}"));
            let user = store.create_user(&name, role, &hash, audit, now).await?;
            writeln!(
                out,
                "created user {} ({}), id {}",
                user.name, user.role, user.id
            )?;
        }
        UserCommand::List => {
            writeln!(out, "{:<6} {:<24} {:<8} STATE", "ID", "NAME", "ROLE")?;
            for u in store.users().await? {
                let state = if u.disabled { "disabled" } else { "active" };
                writeln!(out, "{:<6} {:<24} {:<8} {}", u.id, u.name, u.role, state)?;
            }
        }
        UserCommand::SetRole { name, role } => {
            change(
                store,
                &me,
                &name,
                "user.update",
                UserChange {
                    role: Some(role),
                    ..Default::default()
                },
                now,
            )
            .await?;
            writeln!(out, "user {name} is now {role}")?;
        }
        UserCommand::Disable { name } => {
            change(
                store,
                &me,
                &name,
                "user.update",
                UserChange {
                    disabled: Some(true),
                    ..Default::default()
                },
                now,
            )
            .await?;
            writeln!(out, "user {name} is disabled")?;
        }
        UserCommand::Enable { name } => {
            change(
                store,
                &me,
                &name,
                "user.update",
                UserChange {
                    disabled: Some(false),
                    ..Default::default()
                },
                now,
            )
            .await?;
            writeln!(out, "user {name} is enabled")?;
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let pw = read_password(password_stdin)?;
            let hash = tokio::task::spawn_blocking(move || password::hash(&pw)).await??;
            let change_pw = UserChange {
                password_hash: Some(hash),
                ..Default::default()
            };
            change(store, &me, &name, "user.update", change_pw, now).await?;
            writeln!(out, "password of {name} changed")?;
        }
    }
    Ok(())
}

async fn change(
    store: &Store,
    me: &Principal,
    name: &str,
    action: &'static str,
    change: UserChange,
    now: i64,
) -> anyhow::Result<()> {
    let id = store
        .user_id(name)
        .await?
        .with_context(|| format!("no user named `{name}`"))?;
    let audit = AuditEntry::new(me, None, action, format!("user:{name}"));
    store.update_user(id, change, audit, now).await?;
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let pw = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let second = rpassword::prompt_password("Again: ").context("reading the password")?;
        if first != second {
            bail!("the two passwords differ");
        }
        first
    };
    check_password_policy(&pw).map_err(anyhow::Error::msg)?;
    Ok(pw)
}

fn os_user() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".to_owned())
}
