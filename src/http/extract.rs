//! Extractors whose rejections are the API's JSON errors instead of axum's plain-text ones.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// JSON body; malformed JSON is 400 `bad_request`, a wrong or missing field 422 `invalid_input` naming it,
/// a body over the limit 413 `too_large`.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> Error {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Error::TooLarge("the request body is too large".into());
    }
    match rejection {
        JsonRejection::JsonDataError(e) => {
            // axum reports "Failed to deserialize ...: <path>: <serde message>".
            let text = e.body_text();
            let detail = text
                .split_once("target type: ")
                .map_or(text.as_str(), |x| x.1);
            let (field, message) = match detail.split_once(": ") {
                Some((path, msg)) if !path.contains(' ') => (path.to_owned(), msg.to_owned()),
                _ => ("body".to_owned(), detail.to_owned()),
            };
            // At the top level serde names the field in the message instead of the path.
            let named = ["missing field `", "unknown field `"]
                .iter()
                .find_map(|p| message.split_once(p))
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(name, _)| name.to_owned());
            let field = match (field.as_str(), named) {
                ("." | "body", Some(name)) => name,
                (".", None) => "body".to_owned(),
                _ => field,
            };
            Error::invalid(field, message)
        }
        JsonRejection::MissingJsonContentType(_) => {
            Error::BadRequest("send the body as JSON with Content-Type: application/json".into())
        }
        other => {
            Error::BadRequest(format!("the body is not valid JSON: {}", other.body_text()).into())
        }
    }
}

/// Query string; a bad value is 422 `invalid_input`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| Error::invalid("query", e.body_text()))
    }
}

/// Path parameters; an id that is not a number is 404 (there is no such object).
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|_: PathRejection| Error::NotFound)
    }
}
