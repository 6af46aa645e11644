//! Embedded, append-only schema migrations.
//!
//! Each migration is a SQL file in `src/db/migrations/`, listed in [`MIGRATIONS`] in order. Applied
//! migrations are recorded with a SHA-256 of their text; editing one that a database has already applied is
//! refused at start-up, because every installed school would otherwise diverge. Add a new file instead.

use anyhow::{Context, bail};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// 1, 2, 3, ... with no gaps.
    pub version: i64,
    /// Short name, for logs.
    pub name: &'static str,
    /// The SQL, run in one transaction.
    pub sql: &'static str,
}

/// Every migration, oldest first. Append only.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "accounts",
        sql: include_str!("migrations/0002_accounts.sql"),
    },
    Migration {
        version: 3,
        name: "courses",
        sql: include_str!("migrations/0003_courses.sql"),
    },
    Migration {
        version: 4,
        name: "jobs",
        sql: include_str!("migrations/0004_jobs.sql"),
    },
    Migration {
        version: 5,
        name: "progress",
        sql: include_str!("migrations/0005_progress.sql"),
    },
    Migration {
        version: 6,
        name: "mail",
        sql: include_str!("migrations/0006_mail.sql"),
    },
    Migration {
        version: 7,
        name: "search_tutor",
        sql: include_str!("migrations/0007_search_tutor.sql"),
    },
    Migration {
        version: 8,
        name: "imports_and_reruns",
        sql: include_str!("migrations/0008_imports_and_reruns.sql"),
    },
    Migration {
        version: 9,
        name: "package_files",
        sql: include_str!("migrations/0009_package_files.sql"),
    },
    Migration {
        version: 10,
        name: "vector_index_state",
        sql: include_str!("migrations/0010_vector_index_state.sql"),
    },
    Migration {
        version: 11,
        name: "quizzes",
        sql: include_str!("migrations/0011_quizzes.sql"),
    },
    Migration {
        version: 12,
        name: "classroom_answers",
        sql: include_str!("migrations/0012_classroom_answers.sql"),
    },
    Migration {
        version: 13,
        name: "quiz_versions",
        sql: include_str!("migrations/0013_quiz_versions.sql"),
    },
    Migration {
        version: 14,
        name: "quiz_hints",
        sql: include_str!("migrations/0014_quiz_hints.sql"),
    },
];

fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Applies every pending migration; refuses a database that is newer than this build or whose applied
/// migrations differ from ours.
pub fn run(conn: &mut Connection) -> anyhow::Result<()> {
    apply(conn, MIGRATIONS)
}

fn apply(conn: &mut Connection, migrations: &[Migration]) -> anyhow::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            sha256     TEXT NOT NULL,
            applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
        )",
    )?;
    let applied: Vec<(i64, String, String)> = conn
        .prepare("SELECT version, name, sha256 FROM schema_migrations ORDER BY version")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;

    for (version, name, sum) in &applied {
        let Some(m) = migrations.iter().find(|m| m.version == *version) else {
            bail!(
                "the database has migration {version} ({name}) that this build does not know: \
                 it was written by a newer SmartCourse"
            );
        };
        if checksum(m.sql) != *sum {
            bail!(
                "migration {version} ({name}) differs from the one applied to this database; \
                 migrations are append-only, add a new one instead of editing it"
            );
        }
    }

    for m in migrations
        .iter()
        .filter(|m| !applied.iter().any(|a| a.0 == m.version))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql)
            .with_context(|| format!("migration {} ({}) failed", m.version, m.name))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, sha256) VALUES (?1, ?2, ?3)",
            (m.version, m.name, checksum(m.sql)),
        )?;
        tx.commit()?;
        tracing::info!(
            migration.version = m.version,
            migration.name = m.name,
            "applied migration"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_contiguous_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "migration {} out of order", m.name);
        }
    }

    #[test]
    fn running_twice_is_a_no_op() {
        let mut c = Connection::open_in_memory().unwrap();
        run(&mut c).unwrap();
        run(&mut c).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
    }

    #[test]
    fn an_edited_migration_is_refused() {
        let mut c = Connection::open_in_memory().unwrap();
        let original = [Migration {
            version: 1,
            name: "a",
            sql: "CREATE TABLE a (x);",
        }];
        apply(&mut c, &original).unwrap();
        let edited = [Migration {
            version: 1,
            name: "a",
            sql: "CREATE TABLE a (x, y);",
        }];
        let err = apply(&mut c, &edited).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{err}");
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let mut c = Connection::open_in_memory().unwrap();
        let newer = [
            Migration {
                version: 1,
                name: "a",
                sql: "CREATE TABLE a (x);",
            },
            Migration {
                version: 2,
                name: "b",
                sql: "CREATE TABLE b (x);",
            },
        ];
        apply(&mut c, &newer).unwrap();
        let err = apply(&mut c, &newer[..1]).unwrap_err().to_string();
        assert!(err.contains("newer SmartCourse"), "{err}");
    }

    /// Attempts made before quiz versions existed get the quiz as it is when the migration runs (what they
    /// were graded against until then).
    #[test]
    fn earlier_quiz_attempts_get_the_current_quiz_as_their_version() {
        let mut c = Connection::open_in_memory().unwrap();
        apply(&mut c, &MIGRATIONS[..12]).unwrap();
        // With foreign keys off, the rows need no user, course or lesson.
        c.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO quizzes VALUES (7, 1, '{\"title\":\"Q\"}', '2026-11-30T00:00:00Z');
             INSERT INTO quiz_attempts (id, user_id, lesson_id, course_id, seed, started_at)
                 VALUES (1, 1, 7, 1, 0, 'x'), (2, 2, 7, 1, 0, 'x'), (3, 1, 8, 1, 0, 'x');",
        )
        .unwrap();
        run(&mut c).unwrap();
        let rows: Vec<(i64, Option<String>)> = c
            .prepare(
                "SELECT a.id, v.quiz_json FROM quiz_attempts a
                 LEFT JOIN quiz_versions v ON v.id = a.quiz_version_id ORDER BY a.id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let q = Some("{\"title\":\"Q\"}".to_owned());
        assert_eq!(
            rows,
            [(1, q.clone()), (2, q), (3, None)],
            "one version shared; none for a gone quiz"
        );
    }

    #[test]
    fn a_failing_migration_leaves_no_trace() {
        let mut c = Connection::open_in_memory().unwrap();
        let bad = [Migration {
            version: 1,
            name: "bad",
            sql: "CREATE TABLE t (x); SELECT * FROM nope;",
        }];
        assert!(apply(&mut c, &bad).is_err());
        let tables: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 't'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }
}
