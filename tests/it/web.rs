//! What the browser tests share: a headless Chromium through ChromeDriver
//! (`scripts/services.sh --with-browser` installs both, and axe-core from
//! `tests/browser/package.json`), the steps a user takes, and [`look`],
//! which checks a page as it stands, at a desk's width and a phone's, and
//! keeps a picture of it for reviewers.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use sluice_testkit::{eventually, TestApp};
use std::time::Duration;

/// A browser session on ChromeDriver, which ends with it.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: tokio::process::Child,
}

impl Drop for Browser {
    /// ChromeDriver and the browser it started run in a process group of
    /// their own: all of it goes, even when a test fails half-way.
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

pub(crate) async fn browser() -> Browser {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .expect("chromedriver: run scripts/services.sh --with-browser");
    let capabilities = json!({
        "browserName": "chrome",
        "unhandledPromptBehavior": "ignore",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1024"],
        },
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let url = format!("http://127.0.0.1:{port}");
    let client = eventually(Duration::from_secs(30), "ChromeDriver to start", || {
        let mut builder = ClientBuilder::new(connector.clone());
        builder.capabilities(capabilities.clone());
        let url = url.clone();
        async move { builder.connect(&url).await.ok() }
    })
    .await;
    Browser { client, driver }
}

/// The app's address as the browser reaches it: `localhost`, where a
/// browser keeps Secure cookies over plain HTTP.
pub(crate) fn site(app: &TestApp, path: &str) -> String {
    app.url(path).replace("127.0.0.1", "localhost")
}

pub(crate) async fn fill(b: &Client, id: &str, value: &str) {
    let field = b.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Sends the form `form` (a CSS selector) by its submit button.
pub(crate) async fn submit(b: &Client, form: &str) {
    b.find(Locator::Css(&format!("{form} button[type=submit]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Presses and releases `key` (a character, or WebDriver's code of a key
/// such as Tab, `\u{E004}`) where the focus is.
pub(crate) async fn press(b: &Client, key: char) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    b.perform_actions(keys).await.unwrap();
}

pub(crate) async fn text_of(b: &Client, id: &str) -> String {
    b.find(Locator::Id(id))
        .await
        .unwrap()
        .text()
        .await
        .unwrap_or_default()
}

/// Waits until the element `id` says `expected`.
pub(crate) async fn wait_text(b: &Client, id: &str, expected: &str) {
    eventually(
        Duration::from_secs(60),
        &format!("#{id} to say {expected}"),
        || async {
            let shown = b.find(Locator::Id(id)).await.ok()?.text().await.ok()?;
            (shown.trim() == expected).then_some(())
        },
    )
    .await
}

pub(crate) async fn wait_path(b: &Client, prefix: &str) -> String {
    eventually(
        Duration::from_secs(30),
        &format!("a page under {prefix}"),
        || async {
            let url = b.current_url().await.ok()?;
            let at = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_owned(),
            };
            at.starts_with(prefix).then_some(at)
        },
    )
    .await
}

/// Signs in through the log-in page as `email` (the test kit's password).
pub(crate) async fn sign_in(b: &Client, app: &TestApp, email: &str) {
    b.goto(&site(app, "/login")).await.unwrap();
    fill(b, "email", email).await;
    fill(b, "password", crate::accounts::PASSWORD).await;
    submit(b, "form").await;
    wait_path(b, "/app/").await;
}

/// Clicks the element `css`.
pub(crate) async fn click(b: &Client, css: &str) {
    b.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Waits until the element `css` is on the page, and returns it.
pub(crate) async fn wait_for(b: &Client, css: &str) -> fantoccini::elements::Element {
    b.wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
}

/// The wizard's button on step `from` that leads to step `to`, pressed;
/// returns once `to` is shown.
pub(crate) async fn next_step(b: &Client, from: &str, to: &str) {
    click(b, &format!("[data-step={from}] [data-next={to}]")).await;
    wait_for(b, &format!("[data-step={to}]:not([hidden])")).await;
}

/// The wizard's mapping step shown with the target's fields loaded: its
/// first column's drop-down offers `field`.
pub(crate) async fn wait_mapping(b: &Client, field: &str) {
    wait_for(
        b,
        &format!("[data-step=mapping]:not([hidden]) #field-0 option[value={field}]"),
    )
    .await;
}

/// From the target step to the mapping step, once it offers `field`.
pub(crate) async fn to_mapping(b: &Client, field: &str) {
    next_step(b, "target", "mapping").await;
    wait_mapping(b, field).await;
}

/// From the mapping step through cleaning to a preview of `rows` rows
/// without a problem.
pub(crate) async fn to_clean_preview(b: &Client, rows: usize) {
    next_step(b, "mapping", "clean").await;
    next_step(b, "clean", "preview").await;
    wait_text(
        b,
        "preview-status",
        &format!("{rows} rows shown, none with a problem."),
    )
    .await;
}

/// Picks the option `value` of the select `id`, once it is there.
pub(crate) async fn choose(b: &Client, id: &str, value: &str) {
    wait_for(b, &format!("#{id} option[value=\"{value}\"]"))
        .await
        .click()
        .await
        .unwrap();
}

/// Rolls back the run whose page (`run_page`, a path) is shown, confirming
/// in the browser's dialog, and waits until the rollback's page says it
/// ended.
pub(crate) async fn roll_back_here(b: &Client, run_page: &str) {
    submit(b, "#rollback").await;
    eventually(Duration::from_secs(10), "the confirmation", || async {
        b.accept_alert().await.ok()
    })
    .await;
    eventually(Duration::from_secs(30), "the rollback's page", || async {
        let url = b.current_url().await.ok()?;
        (url.path() != run_page).then_some(())
    })
    .await;
    wait_text(b, "status", "Rolled back").await;
}

/// WebDriver's codes of the keys the keyboard-only tests press.
pub(crate) const TAB: char = '\u{E004}';
pub(crate) const ENTER: char = '\u{E007}';
pub(crate) const SPACE: char = ' ';
pub(crate) const UP: char = '\u{E013}';
pub(crate) const DOWN: char = '\u{E015}';

/// The text of the element `css`, once it is on the page.
pub(crate) async fn text_at(b: &Client, css: &str) -> String {
    wait_for(b, css).await.text().await.unwrap()
}

/// The value of the form control `id`.
pub(crate) async fn value_of(b: &Client, id: &str) -> String {
    b.find(Locator::Id(id))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// What has the focus: its id, or for an element without one its text.
pub(crate) async fn focused(b: &Client) -> String {
    b.execute(
        "return document.activeElement.id || document.activeElement.textContent.trim();",
        vec![],
    )
    .await
    .unwrap()
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// Presses Tab until the focus is on `target` (an id, or the text of an
/// element without one, such as a button): the control is reachable by
/// the keyboard, in the page's order.
pub(crate) async fn tab_to(b: &Client, target: &str) {
    for _ in 0..80 {
        if focused(b).await == target {
            return;
        }
        press(b, TAB).await;
    }
    panic!(
        "Tab never reached {target}; the focus is on {}",
        focused(b).await
    );
}

/// The widths every visited page is checked at: a desk's and a phone's.
pub(crate) const WIDTHS: [(u32, u32); 2] = [(1280, 1024), (390, 844)];

/// Where the pictures of each page the tests visit are kept, named in the
/// README.
pub(crate) const SCREENSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/screenshots");

/// Checks the page as it stands at both [`WIDTHS`]: axe-core reports no
/// accessibility violation, nothing sticks out of a phone's width (tables
/// scroll inside their own `.scroll` regions), and a picture named `name`
/// is kept in [`SCREENSHOTS`] for each width. The window is left at the
/// desk's width.
pub(crate) async fn look(b: &Client, name: &str) {
    static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let axe = AXE.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/browser/node_modules/axe-core/axe.min.js"
        );
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e}; run scripts/services.sh --with-browser"))
    });
    for (width, height) in WIDTHS {
        b.set_window_size(width, height).await.unwrap();
        if b.execute("return typeof axe;", vec![]).await.unwrap() != "object" {
            b.execute(&format!("{axe}\n;return true;"), vec![])
                .await
                .unwrap();
        }
        let violations = b
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): '
                       + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .unwrap();
        let violations: Vec<String> = serde_json::from_value(violations).unwrap();
        assert!(
            violations.is_empty(),
            "{name} at {width} px:\n{}",
            violations.join("\n")
        );
        if width < 400 {
            let sticking_out = b
                .execute(
                    "return [document.documentElement.scrollWidth - window.innerWidth,
                      [...document.querySelectorAll('body *')]
                       .filter(e => !e.closest('.scroll')
                         && e.getBoundingClientRect().right > window.innerWidth + 1)
                       .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8).join(' ')];",
                    vec![],
                )
                .await
                .unwrap();
            assert!(
                sticking_out[0].as_i64().unwrap() <= 0,
                "{name} is wider than {width} px: {}",
                sticking_out[1]
            );
        }
        // The whole page in one picture: the window as tall as the page and
        // the browser's own bars.
        let tall = b
            .execute(
                "return document.documentElement.scrollHeight
                   + window.outerHeight - window.innerHeight;",
                vec![],
            )
            .await
            .unwrap()
            .as_u64()
            .unwrap()
            .clamp(u64::from(height), 6000);
        b.set_window_size(width, tall as u32).await.unwrap();
        b.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
        let png = b.screenshot().await.unwrap();
        std::fs::create_dir_all(SCREENSHOTS).unwrap();
        std::fs::write(format!("{SCREENSHOTS}/{name}-{width}.png"), png).unwrap();
    }
    b.set_window_size(WIDTHS[0].0, WIDTHS[0].1).await.unwrap();
}
