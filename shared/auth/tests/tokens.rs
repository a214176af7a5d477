//! Sign-in, tokens and sessions against a real database (SQLite, or PostgreSQL when
//! DATABASE_URL is set).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cdp_auth::{AuthError, AuthOptions, Authenticator, LoginRequest, hash_password};
use cdp_domain::{Email, Role, TenantName};
use cdp_tenancy::NewUser;
use cdp_testkit::TestDb;

const PASSWORD: &str = "Orchard-Lantern-42";

struct Fixture {
    t: TestDb,
    auth: Authenticator,
    email: String,
}

async fn fixture(options: AuthOptions) -> Fixture {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = cdp_tenancy::create_tenant(&t.db, &keyring, TenantName::parse("auth").unwrap())
        .await
        .unwrap()
        .tenant_id;
    let email = format!("ann.{}@example.com", uuid_suffix());
    let user = cdp_tenancy::create_user(
        &t.db,
        NewUser {
            email: &Email::parse(&email).unwrap(),
            password_hash: hash_password(PASSWORD).unwrap(),
            platform_admin: false,
            password_change_required: false,
        },
    )
    .await
    .unwrap();
    cdp_tenancy::add_member(&t.db, tenant, user.id, Role::Analyst)
        .await
        .unwrap();
    let auth = Authenticator::new(t.db.clone(), keyring, None, options);
    Fixture { t, auth, email }
}

fn uuid_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

fn login(f: &Fixture, password: &str) -> LoginRequest {
    LoginRequest {
        email: f.email.clone(),
        password: password.to_owned(),
        tenant_id: None,
        platform: false,
    }
}

/// Replaces a token's payload (or header) while keeping its signature.
fn with_part(token: &str, index: usize, edit: impl Fn(&mut serde_json::Value)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut value: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[index]).unwrap()).unwrap();
    edit(&mut value);
    parts[index] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&value).unwrap());
    parts.join(".")
}

async fn verify(f: &Fixture, token: &str) -> Result<(), AuthError> {
    f.auth.check_access_token(token).await.map(|_| ())
}

#[tokio::test]
async fn a_token_verifies_and_tampered_ones_do_not() {
    let f = fixture(AuthOptions::default()).await;
    let session = f
        .auth
        .login(login(&f, PASSWORD), Some("192.0.2.1"))
        .await
        .unwrap();
    assert_eq!(session.role, Some("analyst"));
    verify(&f, &session.access_token).await.unwrap();

    let escalated = with_part(&session.access_token, 1, |claims| {
        claims["role"] = "owner".into()
    });
    let unsigned = {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = session.access_token.split('.').nth(1).unwrap().to_owned();
        format!("{header}.{payload}.")
    };
    let swapped_alg = with_part(&session.access_token, 0, |header| {
        header["alg"] = "HS512".into()
    });
    let unknown_kid = with_part(&session.access_token, 0, |header| {
        header["kid"] = "k_nope".into()
    });
    let mut flipped = session.access_token.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    for (name, token) in [
        ("garbage", "not.a.token".to_owned()),
        ("empty", String::new()),
        ("changed claims", escalated),
        ("alg none", unsigned),
        ("other algorithm", swapped_alg),
        ("unknown key", unknown_kid),
        ("flipped signature", flipped),
    ] {
        let err = verify(&f, &token).await.unwrap_err();
        assert!(matches!(err, AuthError::InvalidToken(_)), "{name}: {err:?}");
    }
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let expired = fixture(AuthOptions {
        access_ttl_seconds: -120,
        ..AuthOptions::default()
    })
    .await;
    let session = expired
        .auth
        .login(login(&expired, PASSWORD), None)
        .await
        .unwrap();
    let err = verify(&expired, &session.access_token).await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken("expired")), "{err:?}");
}

#[tokio::test]
async fn rotating_the_signing_key_logs_nobody_out() {
    let f = fixture(AuthOptions::default()).await;
    let before = f.auth.login(login(&f, PASSWORD), None).await.unwrap();
    f.auth.rotate_signing_key().await.unwrap();
    let after = f.auth.login(login(&f, PASSWORD), None).await.unwrap();
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    assert_ne!(kid(&before.access_token), kid(&after.access_token));
    verify(&f, &before.access_token).await.unwrap();
    verify(&f, &after.access_token).await.unwrap();
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_session() {
    let f = fixture(AuthOptions::default()).await;
    let first = f.auth.login(login(&f, PASSWORD), None).await.unwrap();
    let second = f.auth.refresh(&first.refresh_token).await.unwrap();
    verify(&f, &second.access_token).await.unwrap();
    // The first refresh token again: someone kept a copy. The whole sign-in ends.
    assert!(matches!(
        f.auth.refresh(&first.refresh_token).await,
        Err(AuthError::InvalidRefreshToken)
    ));
    assert!(matches!(
        f.auth.refresh(&second.refresh_token).await,
        Err(AuthError::InvalidRefreshToken)
    ));
    assert!(
        verify(&f, &second.access_token).await.is_err(),
        "an access token of the ended session still works"
    );
}

#[tokio::test]
async fn signing_out_ends_the_access_token_too() {
    let f = fixture(AuthOptions::default()).await;
    let session = f.auth.login(login(&f, PASSWORD), None).await.unwrap();
    f.auth.logout(&session.refresh_token).await.unwrap();
    assert!(matches!(
        verify(&f, &session.access_token).await,
        Err(AuthError::InvalidToken("signed out"))
    ));
}

#[tokio::test]
async fn repeated_failures_slow_the_account_down() {
    let f = fixture(AuthOptions::default()).await;
    for _ in 0..6 {
        assert!(matches!(
            f.auth
                .login(login(&f, "wrong password!"), Some("192.0.2.9"))
                .await,
            Err(AuthError::InvalidCredentials)
        ));
    }
    // Locked now, even with the right password and from another address.
    assert!(matches!(
        f.auth
            .login(login(&f, PASSWORD), Some("198.51.100.3"))
            .await,
        Err(AuthError::Throttled(_))
    ));
    // Unknown addresses get the same answer as wrong passwords.
    let stranger = LoginRequest {
        email: "nobody@example.com".into(),
        password: PASSWORD.into(),
        tenant_id: None,
        platform: false,
    };
    assert!(matches!(
        f.auth.login(stranger, None).await,
        Err(AuthError::InvalidCredentials)
    ));
    drop(f.t);
}
