//! HTTP routes of analytics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::CourseReport;
use crate::App;
use crate::accounts::Auth;
use crate::error::{Error, Result};
use crate::http::ErrorBody;
use crate::http::extract::Query;

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(enrollment_report))
}

/// Report format.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` (default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// Enrollment reports.
#[derive(Serialize, ToSchema)]
pub struct EnrollmentReport {
    /// One per course.
    pub courses: Vec<CourseReport>,
}

/// Enrollments per course over time and completion rates: your courses (instructors) or all (admins).
#[utoipa::path(get, path = "/api/reports/enrollments", tag = "analytics", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, description = "JSON, or CSV with ?format=csv",
            content((EnrollmentReport = "application/json"), (String = "text/csv"))), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn enrollment_report(
    State(app): State<Arc<App>>,
    user: Auth,
    Query(q): Query<ReportQuery>,
) -> Result<Response> {
    let actor = user.actor();
    let format = q.format.unwrap_or_else(|| "json".into());
    if format != "json" && format != "csv" {
        return Err(Error::invalid("format", "format must be json or csv"));
    }
    let courses = app.db.read(move |c| super::enrollments(c, &actor)).await?;
    Ok(if format == "csv" {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"enrollments.csv\"",
                ),
            ],
            super::to_csv(&courses),
        )
            .into_response()
    } else {
        axum::Json(EnrollmentReport { courses }).into_response()
    })
}
