//! Sign up, log in and log out. These forms work without the script: they
//! post as forms, and the answer sets the session cookie (or shows the page
//! again with what was wrong). Before a session exists, a form is protected
//! from cross-site posts by a random value both in a cookie and in the form
//! (double submit): another site can make the browser send the cookie but
//! cannot read it to put it in the form.

use super::render::{self, see_other};
use crate::auth::{cookie, page_user, token};
use crate::error::ApiError;
use crate::routes::accounts::{open_account, Signup};
use crate::routes::sessions::{issue, log_in, revoke, Grant};
use crate::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

const FORM_COOKIE: &str = "sluice_form";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    form_token: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    form_token: String,
    values: SignupValues,
    error: Option<String>,
    field: String,
}

#[derive(Default, Deserialize)]
struct SignupValues {
    first_name: String,
    last_name: String,
    email: String,
    company: String,
    country: String,
}

/// The form token of this browser (kept), or a new one with its cookie.
fn form_token(req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
    if let Some(kept) = req.cookie(FORM_COOKIE) {
        return (kept.value().to_owned(), None);
    }
    let value = token::generate("form");
    let cookie = Cookie::build(FORM_COOKIE, value.clone())
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .finish();
    (value, Some(cookie))
}

fn with_cookie(mut res: HttpResponse, cookie: Option<Cookie<'static>>) -> HttpResponse {
    if let Some(cookie) = cookie {
        let _ = res.add_cookie(&cookie);
    }
    res
}

/// Whether a posted form carries this browser's form token.
fn genuine(req: &HttpRequest, presented: &str) -> bool {
    req.cookie(FORM_COOKIE)
        .is_some_and(|c| !presented.is_empty() && c.value() == presented)
}

const STALE_FORM: &str = "the form expired; please send it again";

pub async fn login_page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if page_user(&req).await?.is_some() {
        return Ok(see_other("/app/runs"));
    }
    let (form_token, cookie) = form_token(&req);
    let page = LoginPage {
        form_token,
        email: String::new(),
        error: None,
    };
    Ok(with_cookie(render::ok(&page), cookie))
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: SecretString,
    form_token: String,
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let (form_token, cookie) = form_token(&req);
    let again = |status, error: String| {
        let page = LoginPage {
            form_token: form_token.clone(),
            email: form.email.clone(),
            error: Some(error),
        };
        with_cookie(render::page(status, &page), cookie.clone())
    };
    if !genuine(&req, &form.form_token) {
        return Ok(again(StatusCode::FORBIDDEN, STALE_FORM.into()));
    }
    match log_in(&req, &state, &form.email, form.password).await {
        Ok((token, _)) => Ok(signed_in(&state, &token)),
        Err(e @ (ApiError::InvalidCredentials | ApiError::TooManyRequests { .. })) => {
            use actix_web::ResponseError;
            Ok(again(e.status_code(), e.to_string()))
        }
        Err(other) => Err(other),
    }
}

/// The answer to a log-in: the session cookie, and on to the runs.
fn signed_in(state: &AppState, token: &str) -> HttpResponse {
    let mut res = see_other("/app/runs");
    let _ = res.add_cookie(&cookie::session(token, state.session_ttl));
    res
}

pub async fn signup_page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (form_token, cookie) = form_token(&req);
    let page = SignupPage {
        form_token,
        values: SignupValues::default(),
        error: None,
        field: String::new(),
    };
    Ok(with_cookie(render::ok(&page), cookie))
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(flatten)]
    values: SignupValues,
    password: SecretString,
    form_token: String,
}

pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignupForm>,
) -> Result<HttpResponse, ApiError> {
    let SignupForm {
        values,
        password,
        form_token: presented,
    } = form.into_inner();
    let (form_token, cookie) = form_token(&req);
    if !genuine(&req, &presented) {
        let page = SignupPage {
            form_token,
            values,
            error: Some(STALE_FORM.into()),
            field: String::new(),
        };
        return Ok(with_cookie(
            render::page(StatusCode::FORBIDDEN, &page),
            cookie,
        ));
    }
    let signup = Signup {
        first_name: values.first_name.clone(),
        last_name: values.last_name.clone(),
        email: values.email.clone(),
        company: values.company.clone(),
        country: values.country.clone(),
        password,
    };
    let refused = |status, error: String, field: String, values| {
        let page = SignupPage {
            form_token: form_token.clone(),
            values,
            error: Some(error),
            field,
        };
        with_cookie(render::page(status, &page), cookie.clone())
    };
    match open_account(&state, signup).await {
        Ok((user, account)) => {
            let (_, token, _) =
                issue(&state, (account, user), Grant::session(state.session_ttl)).await?;
            Ok(signed_in(&state, &token))
        }
        Err(ApiError::Invalid { field, message }) => Ok(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            message,
            field,
            values,
        )),
        Err(e @ ApiError::Conflict(_)) => Ok(refused(
            StatusCode::CONFLICT,
            e.to_string(),
            "email".into(),
            values,
        )),
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, ApiError> {
    let session = req.cookie(cookie::SESSION_COOKIE);
    let genuine = session
        .as_ref()
        .is_some_and(|c| cookie::csrf_matches(c.value(), &form.csrf));
    if genuine {
        if let Some((user, _)) = page_user(&req).await? {
            revoke(&state, &user, user.token_id, "logout").await?;
        }
    }
    let mut res = see_other("/login");
    let _ = res.add_cookie(&cookie::cleared());
    Ok(res)
}
