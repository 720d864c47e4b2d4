//! The API's answers held against its OpenAPI document, in the test suite.
//!
//! Built with the `response-check` feature (the test kit turns it on),
//! every answer to a documented operation is checked as it leaves: its
//! status must be one the operation documents, and a JSON body must be
//! valid under the schema documented for that status. An answer that is
//! not is replaced by a 500 naming the difference, so that any test whose
//! request meets it fails, and the whole suite is the check that the
//! document says what the API sends. Without the feature the middleware
//! passes answers on untouched.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

#[cfg(not(feature = "response-check"))]
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(feature = "response-check")]
pub use checked::middleware;

#[cfg(feature = "response-check")]
mod checked {
    use super::*;
    use actix_web::http::header;
    use actix_web::HttpResponse;
    use serde_json::Value;
    use std::collections::HashMap;
    use std::sync::LazyLock;

    const BASE: &str = "http://sluice.invalid/openapi.json";

    /// The document, and the schema of every JSON answer it documents,
    /// compiled once, by operation and status.
    struct Checker {
        document: Value,
        schemas: boon::Schemas,
        compiled: HashMap<(String, String, String), boon::SchemaIndex>,
    }

    static CHECKER: LazyLock<Result<Checker, String>> = LazyLock::new(|| {
        let json = crate::openapi::json().map_err(|e| format!("{e:?}"))?;
        let document = serde_json::from_str::<Value>(json).map_err(|e| e.to_string())?;
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler
            .add_resource(BASE, document.clone())
            .map_err(|e| e.to_string())?;
        let mut schemas = boon::Schemas::new();
        let mut compiled = HashMap::new();
        let paths = document["paths"].as_object().cloned().unwrap_or_default();
        for (path, item) in &paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let responses = operation["responses"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for (status, response) in &responses {
                    if response
                        .pointer("/content/application~1json/schema")
                        .is_none()
                    {
                        continue;
                    }
                    let location = format!(
                        "{BASE}#/paths/{}/{method}/responses/{status}/content/application~1json/schema",
                        token(path)
                    );
                    let index = compiler
                        .compile(&location, &mut schemas)
                        .map_err(|e| format!("{method} {path} {status}: {e:#}"))?;
                    compiled.insert((method.clone(), path.clone(), status.clone()), index);
                }
            }
        }
        Ok(Checker {
            document,
            schemas,
            compiled,
        })
    });

    /// `a/b` as a JSON pointer's token.
    fn token(segment: &str) -> String {
        segment.replace('~', "~0").replace('/', "~1")
    }

    impl Checker {
        /// What is wrong with an answer of `status` and `body` to `method
        /// pattern`, if anything; `None` for what the document leaves out.
        fn check(
            &self,
            method: &str,
            pattern: &str,
            status: u16,
            body: Option<&Value>,
        ) -> Option<String> {
            let operation = self.document["paths"].get(pattern)?.get(method)?;
            let responses = &operation["responses"];
            let code = status.to_string();
            let key = if responses.get(&code).is_some() {
                code
            } else if responses.get("default").is_some() {
                "default".to_owned()
            } else {
                return Some(format!(
                    "{method} {pattern} answered {status}, which it does not document"
                ));
            };
            let body = body?;
            let Some(index) = self
                .compiled
                .get(&(method.to_owned(), pattern.to_owned(), key))
            else {
                return Some(format!(
                    "{method} {pattern} answered {status} with JSON, which it does not document"
                ));
            };
            self.schemas.validate(body, *index).err().map(|e| {
                format!("{method} {pattern} answered {status} with a body its schema refuses: {e}")
            })
        }
    }

    pub async fn middleware(
        req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
        let res = next.call(req).await?.map_into_boxed_body();
        let Some(pattern) = res.request().match_pattern() else {
            return Ok(res);
        };
        let method = res.request().method().as_str().to_ascii_lowercase();
        let status = res.status();
        let json = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let checker = match &*CHECKER {
            Ok(checker) => checker,
            Err(e) => {
                return Ok(refused(
                    res,
                    format!("the OpenAPI document cannot be read: {e}"),
                ))
            }
        };
        if !json {
            return Ok(
                match checker.check(&method, &pattern, status.as_u16(), None) {
                    Some(problem) => refused(res, problem),
                    None => res,
                },
            );
        }
        let (req, response) = res.into_parts();
        let (head, body) = response.into_parts();
        let Ok(bytes) = actix_web::body::to_bytes(body).await else {
            let res = ServiceResponse::new(req, head.set_body(BoxBody::new(())));
            return Ok(refused(
                res,
                format!("{method} {pattern}: the body could not be read"),
            ));
        };
        let problem = match serde_json::from_slice::<Value>(&bytes) {
            Ok(body) => checker.check(&method, &pattern, status.as_u16(), Some(&body)),
            Err(e) => Some(format!(
                "{method} {pattern} answered {status} with JSON that does not parse: {e}"
            )),
        };
        let res = ServiceResponse::new(req, head.set_body(BoxBody::new(bytes)));
        Ok(match problem {
            Some(problem) => refused(res, problem),
            None => res,
        })
    }

    /// What is wrong with an answer, by the document (see [`Checker::check`]).
    #[cfg(test)]
    pub fn check(method: &str, pattern: &str, status: u16, body: Option<&Value>) -> Option<String> {
        match &*CHECKER {
            Ok(checker) => checker.check(method, pattern, status, body),
            Err(e) => Some(e.clone()),
        }
    }

    /// `res` replaced by a 500 that names `problem`.
    fn refused(res: ServiceResponse<BoxBody>, problem: String) -> ServiceResponse<BoxBody> {
        eprintln!("response check: {problem}");
        let (req, _) = res.into_parts();
        let answer = HttpResponse::InternalServerError()
            .json(serde_json::json!({"error": {"code": "response_check", "message": problem}}));
        ServiceResponse::new(req, answer)
    }
}

#[cfg(all(test, feature = "response-check"))]
mod tests {
    use super::checked::check;
    use serde_json::json;

    #[test]
    fn an_answer_is_held_against_its_operations_schema_and_statuses() {
        let me = json!({
            "user": {"id": "0190a5f2-3c4d-7e6f-8a9b-0c1d2e3f4a5b", "email": "ada@example.com",
                     "first_name": "Ada", "last_name": "Lovelace", "role": "owner",
                     "created_at": "2026-12-01T09:30:00Z"},
            "account": {"id": "0190a5f2-3c4d-7e6f-8a9b-0c1d2e3f4a5c", "company": "Analytical",
                        "country": "GB", "plan": "free", "region": "eu"},
        });
        assert_eq!(check("get", "/v1/me", 200, Some(&me)), None);
        let mut without_user = me.clone();
        without_user.as_object_mut().unwrap().remove("user");
        let refused = check("get", "/v1/me", 200, Some(&without_user)).unwrap();
        assert!(refused.contains("refuses"), "{refused}");
        let mut wrong_type = me;
        wrong_type["account"]["plan"] = json!(3);
        assert!(check("get", "/v1/me", 200, Some(&wrong_type)).is_some());
        let undocumented = check("get", "/v1/me", 418, None).unwrap();
        assert!(undocumented.contains("does not document"), "{undocumented}");
        // What the document does not hold is not checked.
        assert_eq!(check("get", "/settings", 200, None), None);
    }
}
