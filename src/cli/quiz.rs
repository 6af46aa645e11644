//! `smartcourse quiz ...`: a lesson's quiz to and from GIFT files. Works while the server runs (it only
//! touches SQLite, which is safe to share), as `user` does.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::QuizCommand;
use crate::accounts::Actor;
use crate::app::DB_FILE;
use crate::config::Config;
use crate::datadir::DataDir;
use crate::db::Db;
use crate::error::Error;
use crate::quizzes::gift;

pub fn run(config: &Config, command: QuizCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let data = DataDir::open_shared(&config.data)?;
    let db = Db::open(&data.join(DB_FILE), &config.database)?;
    match command {
        QuizCommand::ImportGift {
            lesson,
            file,
            force,
        } => runtime.block_on(import(db, config, lesson, &file, force)),
        QuizCommand::ExportGift {
            lesson,
            file,
            skip_unsupported,
        } => runtime.block_on(export(db, lesson, file, skip_unsupported)),
    }
}

fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The domain's refusals in words that name what the command was given.
fn explain(e: Error, lesson: i64, file: &Path) -> anyhow::Error {
    match e {
        Error::NotFound => anyhow::anyhow!("lesson {lesson} does not exist or has no quiz"),
        Error::Invalid { field, message } if field == "gift" => {
            anyhow::anyhow!("{}: {message}", file.display())
        }
        Error::Conflict {
            code: "quiz_has_attempts",
            message,
        } => anyhow::anyhow!(
            "lesson {lesson}: {message} (--force replaces them anyway; the attempts keep their scores and passes)"
        ),
        other => other.into(),
    }
}

async fn import(
    db: Db,
    config: &Config,
    lesson: i64,
    file: &Path,
    force: bool,
) -> anyhow::Result<()> {
    let max = config.uploads.max_file_bytes;
    let mut bytes = Vec::new();
    if is_stdio(file) {
        std::io::stdin()
            .take(max + 1)
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        std::fs::File::open(file)
            .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
            .with_context(|| format!("cannot read {}", file.display()))?;
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{}: a GIFT file is UTF-8 text", file.display()))?;
    let limits = config.uploads.clone();
    let questions = crate::blocking(move || gift::parse(&text, &limits))
        .await
        .map_err(|e| explain(e, lesson, file))?;
    let done = db
        .write(move |tx| gift::replace_questions(tx, &Actor::System, lesson, questions, force))
        .await
        .map_err(|e| explain(e, lesson, file))?;
    let what = if done.created {
        "is now a quiz of"
    } else {
        "quiz now has"
    };
    println!("lesson {lesson} {what} {} question(s)", done.questions);
    if done.earlier_attempts > 0 {
        println!(
            "{} earlier attempt(s) keep their scores and passes",
            done.earlier_attempts
        );
    }
    Ok(())
}

async fn export(
    db: Db,
    lesson: i64,
    file: Option<PathBuf>,
    skip_unsupported: bool,
) -> anyhow::Result<()> {
    let out = file.unwrap_or_else(|| PathBuf::from("-"));
    let exported = db
        .read(move |c| gift::export(c, &Actor::System, lesson))
        .await
        .map_err(|e| explain(e, lesson, &out))?;
    for why in &exported.left_out {
        eprintln!("left out: {why}");
    }
    if !exported.left_out.is_empty() && !skip_unsupported {
        bail!(
            "GIFT cannot express {} of the quiz's {} question(s); nothing was written \
             (--skip-unsupported writes the others)",
            exported.left_out.len(),
            exported.written + exported.left_out.len()
        );
    }
    if is_stdio(&out) {
        std::io::stdout().write_all(exported.text.as_bytes())?;
    } else {
        std::fs::write(&out, &exported.text)
            .with_context(|| format!("cannot write {}", out.display()))?;
        println!(
            "wrote {} question(s) to {}",
            exported.written,
            out.display()
        );
    }
    eprintln!(
        "not in the file (GIFT has no syntax for them; they stay with the lesson and an import into it keeps \
         them): {}",
        exported.settings.join(", ")
    );
    Ok(())
}
