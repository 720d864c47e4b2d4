//! SOAP API (partner WSDL) `undelete()`, which the REST API lacks: the
//! session comes in `SessionHeader/sessionId`, the answer is
//! `undeleteResponse/result*` with `id`, `success` and `errors`, and a
//! refused call is a SOAP fault with HTTP 500.
//!
//! Queued faults (`faults.rs`) meet SOAP calls too: a maintenance page or
//! a proxy's answer as the REST API gets them, and the API's own passing
//! refusals (`SERVER_UNAVAILABLE`, the concurrent request limit,
//! `UNABLE_TO_LOCK_ROW`) as SOAP faults, as the SOAP API Developer Guide's
//! "ExceptionCode" lists them.

use super::data::transact;
use super::faults::{self, Fault};
use super::ids;
use super::org::{self, CallKind};
use super::save::SaveError;
use super::session::{admit, Denied};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::Reader;

const LIMIT: usize = 200;
const ENVELOPE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>"#;
const ENVELOPE_END: &str = "</soapenv:Body></soapenv:Envelope>";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    // Also as a SOAP login's `serverUrl` gives it, ending in the org id.
    for path in [
        "/services/Soap/u/{version:\\d+\\.\\d+}",
        "/services/Soap/u/{version:\\d+\\.\\d+}/{org}",
    ] {
        cfg.route(path, web::post().to(call));
    }
}

/// What a partner call carries that `undelete()` reads.
#[derive(Default)]
struct Envelope {
    session: String,
    operation: String,
    ids: Vec<String>,
    all_or_none: bool,
}

fn parse(xml: &str) -> Result<Envelope, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut envelope = Envelope::default();
    loop {
        let text = match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                if path.len() == 2 && path[1] == "Body" && envelope.operation.is_empty() {
                    envelope.operation = name.clone();
                }
                path.push(name);
                if path.len() == 4 && path[1] == "Body" && path[2] == "undelete" && path[3] == "ids"
                {
                    envelope.ids.push(String::new());
                }
                continue;
            }
            Event::Empty(e)
                if path.len() == 2 && path[1] == "Body" && envelope.operation.is_empty() =>
            {
                envelope.operation = e.local_name().as_ref().to_owned();
                continue;
            }
            Event::End(_) => {
                path.pop();
                continue;
            }
            Event::Text(t) => t.xml10_content().into_owned(),
            Event::GeneralRef(r) => {
                quick_xml::escape::unescape(&format!("&{};", r.xml10_content()))
                    .map_err(|e| e.to_string())?
                    .into_owned()
            }
            Event::Eof => break,
            _ => continue,
        };
        let at: Vec<&str> = path.iter().map(String::as_str).collect();
        match at.as_slice() {
            [_, "Header", "SessionHeader", "sessionId"] => envelope.session.push_str(&text),
            [_, "Header", "AllOrNoneHeader", "allOrNone"] => envelope.all_or_none = text == "true",
            [_, "Body", "undelete", "ids"] => {
                if let Some(id) = envelope.ids.last_mut() {
                    id.push_str(&text);
                }
            }
            _ => {}
        }
    }
    Ok(envelope)
}

fn respond(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml;charset=UTF-8")
        .body(format!("{ENVELOPE}{body}{ENVELOPE_END}"))
}

/// A SOAP fault: `faultcode`, `faultstring`, and for API faults the
/// `UnexpectedErrorFault` detail with its exception code.
fn fault(code: &str, message: &str, api_fault: bool) -> HttpResponse {
    let message = escape(message);
    let (faultcode, detail) = if api_fault {
        let detail = format!(
            r#"<detail><sf:UnexpectedErrorFault xsi:type="sf:UnexpectedErrorFault"><sf:exceptionCode>{code}</sf:exceptionCode><sf:exceptionMessage>{message}</sf:exceptionMessage></sf:UnexpectedErrorFault></detail>"#
        );
        (format!("sf:{code}"), detail)
    } else {
        (code.to_owned(), String::new())
    };
    let faultstring = if api_fault {
        format!("{code}: {message}")
    } else {
        message.into_owned()
    };
    HttpResponse::InternalServerError()
        .content_type("text/xml;charset=UTF-8")
        .body(format!(
            "{ENVELOPE}<soapenv:Fault><faultcode>{faultcode}</faultcode><faultstring>{faultstring}</faultstring>{detail}</soapenv:Fault>{ENVELOPE_END}"
        ))
}

async fn call(req: HttpRequest, org: web::Data<org::Shared>, body: web::Bytes) -> HttpResponse {
    let refused = |code: &str, message: &str| fault(code, message, true);
    match faults::next(&org, &Method::POST) {
        None => answer(req, org, body),
        Some(Fault::ServerUnavailable) => refused(
            "SERVER_UNAVAILABLE",
            "Server temporarily unavailable. Please try again later.",
        ),
        Some(Fault::ConcurrentLimit) => refused(
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentPerOrgLongTxn Limit exceeded.",
        ),
        Some(Fault::LockedRow) => refused(
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record",
        ),
        Some(fault) if fault.after() => {
            answer(req, org, body);
            fault.response()
        }
        Some(fault) => fault.response(),
    }
}

fn answer(req: HttpRequest, org: web::Data<org::Shared>, body: web::Bytes) -> HttpResponse {
    let envelope = match parse(&String::from_utf8_lossy(&body)) {
        Ok(envelope) => envelope,
        Err(e) => {
            return fault(
                "soapenv:Client",
                &format!("Unable to parse the request: {e}"),
                false,
            )
        }
    };
    if envelope.operation != "undelete" {
        let message = format!(
            "No operation available for request {{urn:partner.soap.sforce.com}}{}",
            envelope.operation
        );
        return fault("soapenv:Client", &message, false);
    }
    match admit(&req, envelope.session.trim(), CallKind::Soap) {
        Ok(()) => {}
        Err(Denied::Session) => {
            return fault(
                "INVALID_SESSION_ID",
                "Invalid Session ID found in SessionHeader: Illegal Session",
                true,
            )
        }
        Err(Denied::Scope) => {
            return fault(
                "API_DISABLED_FOR_ORG",
                "The session was not granted the api scope",
                true,
            )
        }
        Err(Denied::Limit) => {
            return fault(
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
                true,
            )
        }
    }
    if envelope.ids.len() > LIMIT {
        let message = "record limit reached. cannot submit more than 200 records into this call";
        return fault("EXCEEDED_ID_LIMIT", message, true);
    }
    let mut org = org.lock().expect("stand-in state");
    let ids_given = envelope.ids.clone();
    let results = transact(
        &mut org.store,
        envelope.all_or_none,
        envelope.ids,
        |store, id| store.undelete(&id),
    );
    let mut out = String::from("<undeleteResponse>");
    for (result, given) in results.iter().zip(ids_given) {
        out.push_str("<result>");
        match result {
            Ok(id) => out.push_str(&format!("<id>{id}</id><success>true</success>")),
            Err(errors) => {
                for error in errors {
                    out.push_str(&error_xml(error));
                }
                match ids::normalize(&given) {
                    Some(id) => out.push_str(&format!("<id>{id}</id>")),
                    None => out.push_str(r#"<id xsi:nil="true"/>"#),
                }
                out.push_str("<success>false</success>");
            }
        }
        out.push_str("</result>");
    }
    out.push_str("</undeleteResponse>");
    respond(out)
}

fn error_xml(error: &SaveError) -> String {
    let fields: String = error
        .fields
        .iter()
        .map(|f| format!("<fields>{}</fields>", escape(f.as_str())))
        .collect();
    format!(
        "<errors>{fields}<message>{}</message><statusCode>{}</statusCode></errors>",
        escape(error.message.as_str()),
        error.status_code
    )
}
