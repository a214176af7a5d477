//! Passwords: argon2id hashes, and a policy that refuses weak ones with a reason.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use cdp_domain::Email;

use crate::AuthError;

/// Passwords that meet the length rule yet are known to every cracking dictionary.
const COMMON: [&str; 24] = [
    "password1234",
    "123456789012",
    "qwertyuiop12",
    "letmein12345",
    "iloveyou1234",
    "password12345",
    "1234567890123",
    "welcome12345",
    "administrator",
    "changeme1234",
    "passw0rd1234",
    "trustno11234",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "abc123456789",
    "monkey123456",
    "dragon123456",
    "sunshine1234",
    "football1234",
    "baseball1234",
    "superman1234",
    "princess1234",
    "starwars1234",
    "correcthorsebatterystaple",
];

/// Refuses a weak password, saying why.
pub fn check_strength(password: &str, email: &Email) -> Result<(), AuthError> {
    let length = password.chars().count();
    if length < 12 {
        return Err(AuthError::WeakPassword("use at least 12 characters"));
    }
    if length > 256 {
        return Err(AuthError::WeakPassword("use at most 256 characters"));
    }
    let lowered = password.to_lowercase();
    if COMMON.contains(&lowered.as_str()) {
        return Err(AuthError::WeakPassword(
            "this password is among the most common ones",
        ));
    }
    let local = email.local_part();
    if local.len() >= 3 && lowered.contains(local) {
        return Err(AuthError::WeakPassword(
            "do not put your e-mail address in your password",
        ));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ]
    .into_iter()
    .filter(|present| *present)
    .count();
    let distinct = password
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if distinct < 6 {
        return Err(AuthError::WeakPassword("use more different characters"));
    }
    if length < 16 && classes < 3 {
        return Err(AuthError::WeakPassword(
            "mix at least three of lower case, upper case, digits and symbols, or use 16 characters or more",
        ));
    }
    Ok(())
}

/// An argon2id hash in PHC form. Slow on purpose; call it from a blocking thread.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| AuthError::NotAllowed("the password could not be hashed"))
}

/// Whether `password` matches the stored hash. Slow on purpose; call it from a blocking thread.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("ann.lee@example.com").unwrap()
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        for (weak, reason) in [
            ("short1!A", "12 characters"),
            ("password1234", "most common"),
            ("Ann.Lee-secret-2026", "e-mail address"),
            ("aaaaaaaaaaaaaaaa", "different characters"),
            ("onlylowercase1", "three of"),
        ] {
            let err = check_strength(weak, &email()).unwrap_err().to_string();
            assert!(err.contains(reason), "{weak}: {err}");
        }
    }

    #[test]
    fn strong_passwords_pass() {
        for strong in [
            "Tr4il-Runner-Maple",
            "zebra canyon violet orchard",
            "R3d!ocean",
        ] {
            let verdict = check_strength(strong, &email());
            if strong.chars().count() >= 12 {
                assert!(verdict.is_ok(), "{strong}: {verdict:?}");
            } else {
                assert!(verdict.is_err());
            }
        }
    }

    #[test]
    fn hashes_verify_only_their_password() {
        let hash = hash_password("Tr4il-Runner-Maple").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("Tr4il-Runner-Maple", &hash));
        assert!(!verify_password("Tr4il-Runner-Mapl", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }
}
