//! Webhook signatures as the Standard Webhooks specification defines them: the published
//! test vector reproduced exactly, rotation with two signatures, and every way a forged,
//! replayed or altered delivery is refused.

use cdp_destinations::{
    DEFAULT_TOLERANCE_SECONDS, DestinationError, SignedHeaders, SigningSecret, sign, verify,
};

const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const VECTOR_TIMESTAMP: i64 = 1_614_265_330;
const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn vector_secret() -> SigningSecret {
    SigningSecret::parse(VECTOR_SECRET).unwrap()
}

#[test]
fn the_specification_test_vector_is_reproduced_and_verified() {
    let secret = vector_secret();
    assert_eq!(
        secret.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY),
        VECTOR_SIGNATURE
    );
    let headers = sign(
        std::slice::from_ref(&secret),
        VECTOR_ID,
        VECTOR_TIMESTAMP,
        VECTOR_BODY,
    );
    assert_eq!(headers.signature, VECTOR_SIGNATURE);
    assert!(
        verify(
            &secret,
            &headers,
            VECTOR_BODY,
            VECTOR_TIMESTAMP + 10,
            DEFAULT_TOLERANCE_SECONDS
        )
        .is_ok()
    );
    // The prefix is optional when reading a secret, as in the reference libraries.
    let bare = SigningSecret::parse(VECTOR_SECRET.trim_start_matches("whsec_")).unwrap();
    assert_eq!(
        bare.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY),
        VECTOR_SIGNATURE
    );
}

#[test]
fn a_rotated_secret_signs_twice_and_either_verifies() {
    let (old, new) = (vector_secret(), SigningSecret::generate());
    let headers = sign(&[new.clone(), old.clone()], "msg_1", 1_000, b"{}");
    let parts: Vec<&str> = headers.signature.split(' ').collect();
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| p.starts_with("v1,")));
    for secret in [&old, &new] {
        assert!(verify(secret, &headers, b"{}", 1_000, 300).is_ok());
    }
    let stranger = SigningSecret::generate();
    assert!(matches!(
        verify(&stranger, &headers, b"{}", 1_000, 300),
        Err(DestinationError::NoMatchingSignature)
    ));
}

#[test]
fn altered_replayed_and_malformed_deliveries_are_refused() {
    let secret = vector_secret();
    let good = sign(
        std::slice::from_ref(&secret),
        VECTOR_ID,
        VECTOR_TIMESTAMP,
        VECTOR_BODY,
    );
    let check = |headers: &SignedHeaders, body: &[u8], now: i64| {
        verify(&secret, headers, body, now, DEFAULT_TOLERANCE_SECONDS)
    };
    let now = VECTOR_TIMESTAMP;
    // One byte of the body, the id or the timestamp changed.
    assert!(matches!(
        check(&good, br#"{"test": 2432232315}"#, now),
        Err(DestinationError::NoMatchingSignature)
    ));
    let other_id = SignedHeaders {
        id: "msg_other".into(),
        ..good.clone()
    };
    assert!(matches!(
        check(&other_id, VECTOR_BODY, now),
        Err(DestinationError::NoMatchingSignature)
    ));
    let other_time = SignedHeaders {
        timestamp: now + 1,
        ..good.clone()
    };
    assert!(matches!(
        check(&other_time, VECTOR_BODY, now),
        Err(DestinationError::NoMatchingSignature)
    ));
    // Too old (a replay) or too far ahead.
    for skew in [
        DEFAULT_TOLERANCE_SECONDS + 1,
        -(DEFAULT_TOLERANCE_SECONDS + 1),
    ] {
        assert!(matches!(
            check(&good, VECTOR_BODY, now + skew),
            Err(DestinationError::OutsideTolerance)
        ));
    }
    assert!(check(&good, VECTOR_BODY, now + DEFAULT_TOLERANCE_SECONDS).is_ok());
    // Headers that say nothing, another version only, or garbage.
    for signature in ["", "g0hM9SsE", "v1"] {
        let bad = SignedHeaders {
            signature: signature.into(),
            ..good.clone()
        };
        assert!(
            matches!(
                check(&bad, VECTOR_BODY, now),
                Err(DestinationError::MalformedSignature)
            ),
            "{signature:?}"
        );
    }
    for signature in [
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,not-base64!",
    ] {
        let bad = SignedHeaders {
            signature: signature.into(),
            ..good.clone()
        };
        assert!(
            matches!(
                check(&bad, VECTOR_BODY, now),
                Err(DestinationError::NoMatchingSignature)
            ),
            "{signature:?}"
        );
    }
    // A valid signature beside a garbage one still verifies.
    let mixed = SignedHeaders {
        signature: format!("v1,AAAA {VECTOR_SIGNATURE}"),
        ..good.clone()
    };
    assert!(check(&mixed, VECTOR_BODY, now).is_ok());
}

#[test]
fn secrets_round_trip_are_checked_and_never_printed() {
    let secret = SigningSecret::generate();
    let written = secret.expose();
    assert!(written.starts_with("whsec_"));
    let again = SigningSecret::parse(&written).unwrap();
    assert_eq!(again.sign("m", 1, b"x"), secret.sign("m", 1, b"x"));
    assert_ne!(
        SigningSecret::generate().sign("m", 1, b"x"),
        secret.sign("m", 1, b"x"),
        "generated secrets differ"
    );
    assert!(!format!("{secret:?}").contains(&written[6..12]));
    assert_eq!(format!("{secret:?}"), "SigningSecret(..)");
    assert!(matches!(
        SigningSecret::parse("whsec_not base64").unwrap_err(),
        DestinationError::InvalidSecret("not base64")
    ));
    // 16 bytes: shorter than the specification allows.
    assert!(matches!(
        SigningSecret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAA==").unwrap_err(),
        DestinationError::InvalidSecret("must be 24 to 64 bytes long")
    ));
}
