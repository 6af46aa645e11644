//! The command line: `smartcourse <command>`.
//!
//! Every command calls the same domain functions as the HTTP handlers. Failures print `error: <reason>` on
//! stderr and exit with status 1 (2 for a command line clap cannot parse).

mod doctor;
mod jobs;
mod models;
mod packages;
mod quiz;
mod serve;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Overrides};

/// SmartCourse: an offline learning platform in one executable.
#[derive(Debug, Parser)]
#[command(
    name = "smartcourse",
    version,
    about,
    long_about = "SmartCourse: an offline learning platform in one executable.\n\n\
        `smartcourse serve` starts the web server for the classroom network; the other commands manage the \
        data directory. Settings come from built-in defaults, then the --config TOML file, then SMARTCOURSE_* \
        environment variables, then flags (see `smartcourse config`).",
    after_help = "Start here: `smartcourse serve`, then open the printed address in a browser."
)]
pub struct Cli {
    /// Data directory holding the database, content and indexes [default: ./data].
    #[arg(long, global = true, env = "SMARTCOURSE_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, global = true, env = "SMARTCOURSE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Embedding model folder (setting `models.embedding`) [default: models/all-minilm-l6-v2].
    #[arg(long, global = true, value_name = "DIR")]
    pub embedding_model: Option<PathBuf>,
    /// The tutor's language model: a GGUF file or a folder with one (setting `models.llm`)
    /// [default: models/qwen2.5-0.5b-instruct].
    #[arg(long, global = true, value_name = "GGUF")]
    pub llm: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the web server for students and teachers on the classroom network.
    Serve(ServeArgs),
    /// Import a course: a SmartCourse package (folder or .zip, docs/package-format.md), an IMS Common Cartridge
    /// (.imscc), a SCORM 1.2/2004 .zip, a Moodle course backup (.mbz), an Open edX OLX export (.tar.gz) or a
    /// Kolibri channel (its .sqlite3 database, with storage/ beside databases/). What is taken from each:
    /// docs/import-formats.md. Works while the server runs.
    Import(ImportArgs),
    /// Export a course as a SmartCourse package (.zip). Works while the server runs.
    Export(ExportArgs),
    /// Manage user accounts (works while the server runs).
    #[command(subcommand)]
    User(UserCommand),
    /// Import or export a lesson's quiz as a GIFT text file (Moodle's question format; works while the
    /// server runs).
    #[command(subcommand)]
    Quiz(QuizCommand),
    /// Ask the AI tutor a question about a course, from the terminal.
    Ask(AskArgs),
    /// Inspect and manage background jobs (works while the server runs).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// List the local models (embedding model and tutor LLM): sizes, checksums, the device they run on.
    Models {
        #[command(subcommand)]
        command: Option<ModelsCommand>,
        /// Also check every file's SHA-256 against the manifest (reads all the weights).
        #[arg(long)]
        verify: bool,
    },
    /// Write a consistent backup of the data directory to FILE (works while the server runs).
    Backup(BackupArgs),
    /// Restore a backup FILE into an empty data directory (refuses damaged or foreign archives).
    Restore(RestoreArgs),
    /// Rebuild the search indexes from the stored lessons (works while the server runs).
    Reindex {
        /// Embed every lesson again, even those whose text and model are unchanged.
        #[arg(long)]
        fresh: bool,
    },
    /// Check the data directory's integrity and report problems.
    Doctor {
        /// Also repair what can be repaired (remove orphaned content).
        #[arg(long)]
        repair: bool,
    },
    /// Print the effective configuration and the environment variable of every setting.
    Config,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (setting `server.addr`, env SMARTCOURSE_SERVER_ADDR) [default: 0.0.0.0:8000].
    #[arg(long, value_name = "IP:PORT")]
    addr: Option<std::net::SocketAddr>,
    /// On a new installation (no course yet), import and publish the demo course first.
    #[arg(long)]
    demo_if_empty: bool,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The package file or folder.
    package: PathBuf,
    /// Email of the instructor or admin who will own the course [default: the first admin].
    #[arg(long, value_name = "EMAIL")]
    owner: Option<String>,
    /// Publish the course once imported.
    #[arg(long)]
    publish: bool,
    /// Only show what would be imported (format, modules, lessons, files, skipped items); change nothing.
    #[arg(long, conflicts_with_all = ["owner", "publish"])]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// Id of the course to export.
    course: i64,
    /// Where to write the package [default: course-<id>.zip].
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user.
    Add {
        /// Email address (the login).
        #[arg(long)]
        email: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// student, instructor or admin.
        #[arg(long, default_value = "student")]
        role: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Change a user's role.
    SetRole {
        /// The user's email.
        email: String,
        /// student, instructor or admin.
        role: String,
    },
    /// Disable a user (they can no longer log in; their tokens stop working).
    Disable {
        /// The user's email.
        email: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user's email.
        email: String,
    },
    /// Set a new password for a user.
    ResetPassword {
        /// The user's email.
        email: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum QuizCommand {
    /// Make the questions of a GIFT file the quiz of a lesson (a lesson without one becomes a quiz lesson,
    /// named after it, passing at half the points). The file is checked first: a mistake is reported with its
    /// line and nothing changes. A quiz already there keeps its settings (pass rule, attempts, shuffling).
    #[command(
        after_help = "A quiz students have attempted is refused unless --force: its attempts, \
        open ones too, keep the questions they were started on; new attempts get the new ones."
    )]
    ImportGift {
        /// Id of the lesson.
        #[arg(long)]
        lesson: i64,
        /// The GIFT file (UTF-8), or - for standard input.
        file: PathBuf,
        /// Replace the questions even though students have attempted the quiz.
        #[arg(long)]
        force: bool,
    },
    /// Write a lesson's quiz as GIFT. The quiz's settings (title, pass rule, attempts) are not in GIFT: they are
    /// listed on stderr and stay with the lesson, so importing the file into it again gives the same quiz.
    #[command(
        after_help = "A question GIFT cannot express (ordering, several gaps) is named with the reason, and \
        nothing is written unless --skip-unsupported."
    )]
    ExportGift {
        /// Id of the lesson.
        #[arg(long)]
        lesson: i64,
        /// Where to write it; - or nothing for standard output.
        file: Option<PathBuf>,
        /// Write the questions GIFT can express and list the others, instead of writing nothing.
        #[arg(long)]
        skip_unsupported: bool,
    },
}

#[derive(Debug, Args)]
struct AskArgs {
    /// Id of the course to ask about.
    #[arg(long)]
    course: i64,
    question: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state (queued, running, failed, done, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Show one job with its error chain.
    Show {
        /// Job id.
        id: i64,
    },
    /// Run a failed job again.
    Retry {
        /// Job id.
        id: i64,
    },
    /// Cancel a queued or running job.
    Cancel {
        /// Job id.
        id: i64,
    },
    /// Check the job system end to end: queue a six-step workflow and some small jobs for the running server.
    Selftest {
        /// How many small jobs to queue.
        #[arg(long, default_value_t = 100)]
        jobs: i64,
        /// How long each workflow step works, in milliseconds.
        #[arg(long, default_value_t = 200)]
        step_ms: u64,
        /// Wait and report progress until everything has run.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Show which models are installed and whether their checksums match the manifest (the default).
    List {
        /// Also check every file's SHA-256.
        #[arg(long)]
        verify: bool,
    },
}

#[derive(Debug, Args)]
struct BackupArgs {
    /// The archive to write.
    file: PathBuf,
}

#[derive(Debug, Args)]
struct RestoreArgs {
    /// The archive to restore.
    file: PathBuf,
}

/// Parses the command line, runs the command, and turns its outcome into an exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let addr = match &cli.command {
        Command::Serve(args) => args.addr,
        _ => None,
    };
    let flags = Overrides {
        data: cli.data.clone(),
        addr,
        embedding_model: cli.embedding_model.clone(),
        llm: cli.llm.clone(),
    };
    let (config, warnings) = Config::load(cli.config.as_deref(), std::env::vars(), &flags)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    match cli.command {
        Command::Serve(args) => serve::run(config, args.demo_if_empty),
        Command::Doctor { repair } => doctor::run(&config, repair),
        Command::Config => {
            let mut shown = config.clone();
            for secret in [&mut shown.admin.password, &mut shown.smtp.password] {
                if !secret.is_empty() {
                    *secret = "(set, not shown)".into();
                }
            }
            print!("{}", toml::to_string_pretty(&shown)?);
            println!("\n# Every setting can also be set from the environment:");
            for (key, env) in Config::keys() {
                println!("#   {key:<32} {env}");
            }
            Ok(())
        }
        Command::Import(a) if a.dry_run => packages::dry_run(&config, &a.package),
        Command::Import(a) => packages::import(config, &a.package, a.owner, a.publish),
        Command::Export(a) => packages::export(config, a.course, a.out),
        Command::User(command) => user::run(&config, command),
        Command::Quiz(command) => quiz::run(&config, command),
        Command::Ask(a) => packages::ask(config, a.course, a.question),
        Command::Jobs(command) => jobs::run(&config, command),
        Command::Models { command, verify } => {
            let verify = verify || matches!(command, Some(ModelsCommand::List { verify: true }));
            if models::list(&config, verify)? {
                Ok(())
            } else {
                anyhow::bail!("a model in use is missing or damaged")
            }
        }
        Command::Backup(a) => packages::backup(config, &a.file),
        Command::Restore(a) => {
            let manifest = crate::backup::restore(&a.file, &config.data)?;
            println!(
                "restored the backup of {} (SmartCourse {}) into {}; check it with `smartcourse doctor`",
                manifest.created_at,
                manifest.version,
                config.data.display()
            );
            Ok(())
        }
        Command::Reindex { fresh } => packages::reindex(config, fresh),
    }
}

/// Sets up logging to stderr at the configured level (`RUST_LOG` wins).
fn init_logging(config: &crate::config::LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours for a person at a terminal, plain text for log files and journald.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.format {
        crate::config::LogFormat::Json => builder.json().try_init(),
        crate::config::LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn data_flag_is_accepted_before_and_after_the_subcommand() {
        let before = Cli::try_parse_from(["smartcourse", "--data", "/d", "doctor"]).unwrap();
        let after = Cli::try_parse_from(["smartcourse", "doctor", "--data", "/d"]).unwrap();
        assert_eq!(before.data, Some(PathBuf::from("/d")));
        assert_eq!(after.data, Some(PathBuf::from("/d")));
        let nested = Cli::try_parse_from(["smartcourse", "jobs", "list", "--data", "/e"]).unwrap();
        assert_eq!(nested.data, Some(PathBuf::from("/e")));
    }
}
