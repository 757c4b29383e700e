//! Extractors whose rejections are decision D1's error body instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use smg_sdk::error_codes;

/// `Json<T>`: 415 wrong content type, 400 malformed JSON, 422 wrong shape, 413 too large.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    let message = rejection.body_text();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            error_codes::UNSUPPORTED_MEDIA_TYPE,
            message,
        ),
        JsonRejection::JsonDataError(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_entity",
            error_codes::UNPROCESSABLE_ENTITY,
            message,
        ),
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request(error_codes::BAD_REQUEST, message)
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::payload_too_large(format!("Request body too large: {message}"))
        }
        other => ApiError::bad_request(error_codes::BAD_REQUEST, other.body_text()),
    }
}

/// An optional JSON body, as upstream's profiling routes take it (`Option<Json<T>>`): a
/// request without `Content-Type` has no body (`T::default()`); with one, the body is read like
/// [`ApiJson`] (so an empty or malformed JSON body is a 400).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            return Ok(Self(T::default()));
        }
        ApiJson::from_request(req, state)
            .await
            .map(|ApiJson(value)| Self(value))
    }
}

/// `Query<T>` with a 400 D1 body on bad parameters.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::bad_request(error_codes::BAD_REQUEST, e.body_text())
            })
    }
}

/// `Path<T>` with a 400 D1 body when a segment cannot be decoded (e.g. `/workers/%FF`).
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| ApiError::bad_request(error_codes::BAD_REQUEST, e.body_text()))
    }
}
