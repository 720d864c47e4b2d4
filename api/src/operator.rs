//! The operator extractor: `Authorization: Bearer <SLUICE_OPS_TOKEN>`.
//! Without a configured token the operator endpoints do not exist (404).

use crate::auth::bearer;
use crate::error::ApiError;
use crate::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use sha2::{Digest, Sha256};
use std::future::{ready, Ready};

/// A request made with the operator token.
pub struct Operator;

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req))
    }
}

fn check(req: &HttpRequest) -> Result<Operator, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    let Some(expected) = &state.ops_token_sha256 else {
        return Err(ApiError::NotFound);
    };
    let presented = bearer(req).ok_or(ApiError::Unauthorized)?;
    // Comparing digests: the time taken reveals nothing about the token itself.
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    if &digest == expected {
        Ok(Operator)
    } else {
        Err(ApiError::Unauthorized)
    }
}
