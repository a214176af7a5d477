//! A panic is reported through the structured log, as one error line with its location,
//! and counted; and what a panic prints holds no key material, whichever value holding
//! some it formats: keys, tokens, signing secrets, the configuration, and the errors of
//! key material given wrong. Its own test binary, since the panic hook and the log
//! subscriber are global to a process.

use std::io::Write;
use std::sync::{Arc, Mutex};

use cdp_destinations::SigningSecret;
use cdp_keyring::MasterKey;
use cdp_tenancy::{SecretToken, TokenKind};

/// The log lines written so far, shared with the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).expect("every log line is JSON"))
            .collect()
    }
}

/// Panics with `f` on a thread of its own, as a request handler or a worker would.
fn panic_with(f: impl FnOnce() + Send + 'static) {
    let outcome = std::thread::Builder::new()
        .name("worker".into())
        .spawn(f)
        .unwrap()
        .join();
    assert!(outcome.is_err(), "it was meant to panic");
}

/// `secret` is nowhere in `text`, whole or by either half.
fn assert_absent(text: &str, what: &str, secret: &str) {
    let half = secret.len() / 2;
    for piece in [secret, &secret[..half], &secret[half..]] {
        assert!(
            !text.contains(piece),
            "{what} (or half of it) is in what a panic printed: {text}"
        );
    }
}

#[test]
fn panics_are_logged_structured_and_never_print_key_material() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .init();
    cdp_telemetry::install_panic_hook();
    let panics_before = cdp_telemetry::metrics::PANICS.get();

    let master = MasterKey::generate().unwrap();
    let master_text = master.to_base64().to_string();
    let api_key = SecretToken::generate(TokenKind::ApiKey).unwrap();
    let api_key_text = api_key.expose().to_owned();
    let signing = SigningSecret::generate();
    let signing_text = signing.expose().to_string();
    // A master key one character short: its error must not quote it.
    let almost = master_text[..master_text.len() - 2].to_owned();
    let database_password = "Pg-s3cret-for-the-panic-test";
    let admin_password = "Admin-s3cret-for-the-panic-test";
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe {
        std::env::set_var("CDP_MASTER_KEY", &master_text);
        std::env::set_var("CDP_ADMIN_PASSWORD", admin_password);
        std::env::set_var(
            "DATABASE_URL",
            format!("postgres://cdp:{database_password}@127.0.0.1:5432/cdp"),
        );
    }
    let config = cdp_config::Config::load().expect("the configuration loads");

    panic_with(move || panic!("master key {master:?}"));
    panic_with(move || panic!("api key {api_key:?}"));
    panic_with(move || panic!("signing secret {signing:?}"));
    panic_with(move || panic!("configuration {config:?}"));
    let almost_for_panic = almost.clone();
    panic_with(move || {
        MasterKey::from_base64(&almost_for_panic).unwrap();
    });
    panic_with(|| {
        let message = String::from("a plain message");
        std::panic::panic_any(message)
    });

    let lines = captured.lines();
    let panics: Vec<&serde_json::Value> = lines.iter().filter(|l| l["target"] == "panic").collect();
    assert_eq!(panics.len(), 6, "one log line per panic: {lines:#?}");
    for line in &panics {
        assert_eq!(line["level"], "ERROR", "{line}");
        assert_eq!(line["message"], "a thread panicked", "{line}");
        assert_eq!(line["panic_thread"], "worker", "{line}");
        assert!(
            line["panic_location"]
                .as_str()
                .is_some_and(|l| l.contains("panics.rs:") || l.contains("result.rs:")),
            "{line}"
        );
    }
    let messages: Vec<&str> = panics
        .iter()
        .map(|l| l["panic_message"].as_str().unwrap())
        .collect();
    assert!(
        messages[0].starts_with("master key MasterKey"),
        "{messages:?}"
    );
    assert!(messages[4].contains("BadMasterKeyEncoding"), "{messages:?}");
    assert_eq!(messages[5], "a plain message");
    assert_eq!(cdp_telemetry::metrics::PANICS.get() - panics_before, 6);

    let everything = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_absent(&everything, "the master key", &master_text);
    assert_absent(&everything, "a master key given wrong", &almost);
    assert_absent(&everything, "an API key", &api_key_text["cdp_sk_".len()..]);
    assert_absent(
        &everything,
        "a signing secret",
        &signing_text["whsec_".len()..],
    );
    assert_absent(&everything, "the database password", database_password);
    assert_absent(&everything, "the admin password", admin_password);
}
