//! The one integration-test binary: the real server on `127.0.0.1:0` with a temp data dir, and the real
//! `smartcourse` executable for the CLI.

mod accounts;
mod browser;
mod cli;
mod common;
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
mod quiz_teach;
mod scorm;
mod search;
mod system;
mod tutor;
mod web;
