//! The `embudo` binary: one program for the server, the demo, the generator, the importers
//! and key management.

mod commands;
mod settings;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Embudo: a self-hosted marketing engine for online shops.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Where Embudo keeps its data (the SQLite file, the config file).
    #[arg(long, global = true, env = "EMBUDO_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL URL (postgres://…); without it, the embedded SQLite file is used.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// A TOML config file (default: embudo.toml in the data directory, if present).
    #[arg(long, global = true, env = "EMBUDO_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "EMBUDO_ADDR")]
        addr: Option<String>,
    },
    /// Fill a store with a generated shop (first run only), make keys and serve it.
    Demo {
        /// Address to listen on.
        #[arg(long, env = "EMBUDO_ADDR")]
        addr: Option<String>,
        /// Known customers in the generated shop.
        #[arg(long, default_value_t = 2000)]
        customers: u32,
        /// Days of history.
        #[arg(long, default_value_t = 120)]
        days: u32,
        /// Random seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Write a generated shop into the store.
    Generate(commands::generate::GenerateArgs),
    /// Import a shop's data from files.
    Import(commands::import::ImportArgs),
    /// Print an analytics report (the same data as GET /v1/analytics/{report}).
    Report(Box<commands::report::ReportArgs>),
    /// Customer lifetime value: fit BG/NBD and Gamma-Gamma, validate, predict per customer.
    Clv {
        #[command(subcommand)]
        command: commands::clv::ClvCommand,
    },
    /// Segments: list, create, show, members, preview, delete.
    Segments {
        #[command(subcommand)]
        command: commands::segments::SegmentsCommand,
    },
    /// Customer scores (RFM, lifetime value predictions, VIP).
    Scores {
        #[command(subcommand)]
        command: commands::segments::ScoresCommand,
    },
    /// Product recommendations: offline evaluation.
    Recs {
        #[command(subcommand)]
        command: commands::recs::RecsCommand,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: commands::keys::KeysCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EMBUDO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = settings::Settings::resolve(cli.data_dir, cli.database_url, cli.config)?;
    match cli.command {
        Command::Serve { addr } => commands::serve::serve(&settings, addr).await,
        Command::Demo {
            addr,
            customers,
            days,
            seed,
        } => commands::demo::demo(&settings, addr, customers, days, seed).await,
        Command::Generate(args) => commands::generate::generate(&settings, args).await,
        Command::Import(args) => commands::import::import(&settings, args).await,
        Command::Report(args) => commands::report::report(&settings, *args).await,
        Command::Clv { command } => commands::clv::clv(&settings, command).await,
        Command::Segments { command } => commands::segments::segments(&settings, command).await,
        Command::Scores { command } => commands::segments::scores(&settings, command).await,
        Command::Recs { command } => commands::recs::recs(&settings, command).await,
        Command::Keys { command } => commands::keys::keys(&settings, command).await,
    }
}
