//! The one integration-test binary: the real server on `127.0.0.1:0` with a temp data dir, and the real
//! `smartcourse` executable for the CLI.

mod account_links;
mod accounts;
mod browser;
mod cli;
mod common;
mod course_care;
mod courses;
mod enrollment;
mod formats;
mod fuzz;
mod hostile;
mod idor;
mod jobs;
mod layering;
mod mail;
mod models;
mod packages;
mod quiz;
mod quiz_edit;
mod quiz_hints;
mod quiz_teach;
mod quiz_upload;
mod scorm;
mod search;
mod system;
mod tutor;
mod web;
