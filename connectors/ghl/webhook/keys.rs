//! Loading the verifier's public keys from PEM, with errors that name the key and never its
//! text: a small DER reader for the two shapes GoHighLevel's keys come in (Ed25519 SPKI; RSA
//! SPKI or PKCS#1), so that a wrong or unusable key is refused when the verifier is built
//! instead of failing every request.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::DecodingKey;

use crate::Error;

/// The setting errors about the Ed25519 public key name.
pub(super) const ED25519_PUBLIC_SETTING: &str = "ghl.webhook.ed25519_public_key";
/// The setting errors about the RSA public key name.
pub(super) const RSA_PUBLIC_SETTING: &str = "ghl.webhook.rsa_public_key";

/// The DER of an Ed25519 SPKI up to the 32 key bytes (RFC 8410: algorithm 1.3.101.112, no
/// parameters, a 33-byte bit string with no unused bits).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// The DER of the OID 1.2.840.113549.1.1.1 (rsaEncryption), contents only.
const RSA_ENCRYPTION_OID: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// The RSA sizes the verifier (ring's `RSA_PKCS1_2048_8192_SHA256`) supports.
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// Loads an Ed25519 public key from SPKI PEM.
///
/// # Errors
/// A config error naming [`ED25519_PUBLIC_SETTING`].
pub(super) fn ed25519_public_key(pem: &str) -> Result<DecodingKey, Error> {
    let (_, der) = pem_der(pem, &["PUBLIC KEY"], ED25519_PUBLIC_SETTING)?;
    let raw = der
        .strip_prefix(&ED25519_SPKI_PREFIX[..])
        .filter(|raw| raw.len() == 32)
        .ok_or_else(|| {
            Error::config(
                ED25519_PUBLIC_SETTING,
                "not an Ed25519 public key (SPKI `PUBLIC KEY`)",
            )
        })?;
    Ok(DecodingKey::from_ed_der(raw))
}

/// Loads an RSA public key from SPKI or PKCS#1 PEM, refusing sizes the verifier cannot use.
///
/// # Errors
/// A config error naming [`RSA_PUBLIC_SETTING`].
pub(super) fn rsa_public_key(pem: &str) -> Result<DecodingKey, Error> {
    let not_rsa = || {
        Error::config(
            RSA_PUBLIC_SETTING,
            "not an RSA public key (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`)",
        )
    };
    let (label, der) = pem_der(pem, &["PUBLIC KEY", "RSA PUBLIC KEY"], RSA_PUBLIC_SETTING)?;
    // Both spellings hold a PKCS#1 RSAPublicKey, which is what ring verifies with.
    let pkcs1 = if label == "RSA PUBLIC KEY" {
        der.as_slice()
    } else {
        rsa_spki_to_pkcs1(&der).ok_or_else(not_rsa)?
    };
    let bits = rsa_modulus_bits(pkcs1).ok_or_else(not_rsa)?;
    if !RSA_BITS.contains(&bits) {
        return Err(Error::config(
            RSA_PUBLIC_SETTING,
            format!("a {bits}-bit RSA key; 2048 to 8192 bits are supported"),
        ));
    }
    Ok(DecodingKey::from_rsa_der(pkcs1))
}

/// Whether two PEM texts hold the same block, whatever their line endings and spacing.
pub(super) fn same_pem(a: &str, b: &str) -> bool {
    let squeeze = |s: &str| {
        s.chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect::<String>()
    };
    squeeze(a) == squeeze(b)
}

/// The label and DER of a PEM block whose label is one of `labels`. Surrounding whitespace and
/// any line breaks (LF or CRLF) are ignored.
///
/// # Errors
/// A config error naming `setting` (and the label found, never the key) when the text is not
/// one PEM block with one of the labels and a base64 body.
fn pem_der<'p>(
    pem: &'p str,
    labels: &[&str],
    setting: &'static str,
) -> Result<(&'p str, Vec<u8>), Error> {
    let pem = pem.trim();
    let (label, rest) = pem
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.split_once("-----"))
        .ok_or_else(|| {
            Error::config(
                setting,
                "not PEM (expected `-----BEGIN PUBLIC KEY-----` ... `-----END PUBLIC KEY-----`)",
            )
        })?;
    if !labels.contains(&label) {
        let what = if label.contains("PRIVATE") {
            "a private key; give the public key".to_string()
        } else {
            format!(
                "a PEM `{}` block; a public key is needed",
                label.escape_debug()
            )
        };
        return Err(Error::config(setting, what));
    }
    let body = rest
        .strip_suffix(&format!("-----END {label}-----"))
        .ok_or_else(|| Error::config(setting, "the PEM block has no matching END line"))?;
    let text: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD
        .decode(text)
        .map_err(|_| Error::config(setting, "the PEM body is not base64"))?;
    Ok((label, der))
}

/// One DER element: its tag, its contents and what follows it. Definite lengths only, up to
/// four length bytes.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, after) = rest.split_at(n);
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, after) = rest.split_at(len);
    Some((tag, contents, after))
}

/// The PKCS#1 RSAPublicKey inside an RSA SubjectPublicKeyInfo; `None` for anything else.
fn rsa_spki_to_pkcs1(spki: &[u8]) -> Option<&[u8]> {
    let (0x30, info, []) = der_element(spki)? else {
        return None;
    };
    let (0x30, algorithm, rest) = der_element(info)? else {
        return None;
    };
    let (0x06, oid, _) = der_element(algorithm)? else {
        return None;
    };
    if oid != RSA_ENCRYPTION_OID {
        return None;
    }
    let (0x03, bits, []) = der_element(rest)? else {
        return None;
    };
    // The bit string's first byte counts unused bits: none in a key.
    match bits.split_first()? {
        (0, pkcs1) => Some(pkcs1),
        _ => None,
    }
}

/// The modulus size of a PKCS#1 RSAPublicKey (`SEQUENCE { INTEGER n, INTEGER e }`), in bits.
fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    let (0x30, key, []) = der_element(pkcs1)? else {
        return None;
    };
    let (0x02, modulus, rest) = der_element(key)? else {
        return None;
    };
    let (0x02, _exponent, []) = der_element(rest)? else {
        return None;
    };
    // A positive INTEGER may start with a zero byte; the size counts from the first one bit.
    let first = modulus.iter().position(|b| *b != 0)?;
    let significant = &modulus[first..];
    let top = significant.first()?;
    Some((significant.len() - 1) * 8 + (8 - top.leading_zeros() as usize))
}

#[cfg(test)]
mod tests {
    use super::super::{PUBLISHED_ED25519_PUBLIC_KEY, PUBLISHED_RSA_PUBLIC_KEY};
    use super::*;

    #[test]
    fn the_published_keys_have_the_expected_shapes() {
        let (label, der) = pem_der(PUBLISHED_RSA_PUBLIC_KEY, &["PUBLIC KEY"], "t").unwrap();
        assert_eq!(label, "PUBLIC KEY");
        let pkcs1 = rsa_spki_to_pkcs1(&der).unwrap();
        assert_eq!(rsa_modulus_bits(pkcs1), Some(4096));
        let (_, der) = pem_der(PUBLISHED_ED25519_PUBLIC_KEY, &["PUBLIC KEY"], "t").unwrap();
        assert_eq!(der.len(), 44);
        assert!(der.starts_with(&ED25519_SPKI_PREFIX));
        assert!(ed25519_public_key(PUBLISHED_ED25519_PUBLIC_KEY).is_ok());
        assert!(rsa_public_key(PUBLISHED_RSA_PUBLIC_KEY).is_ok());
        // An Ed25519 SPKI is not an RSA one, and the other way round.
        assert!(rsa_public_key(PUBLISHED_ED25519_PUBLIC_KEY).is_err());
        assert!(ed25519_public_key(PUBLISHED_RSA_PUBLIC_KEY).is_err());
    }

    #[test]
    fn truncated_or_padded_der_is_refused_without_panicking() {
        let (_, der) = pem_der(PUBLISHED_RSA_PUBLIC_KEY, &["PUBLIC KEY"], "t").unwrap();
        for cut in 0..der.len() {
            assert_eq!(rsa_spki_to_pkcs1(&der[..cut]), None, "cut at {cut}");
        }
        let mut longer = der.clone();
        longer.push(0);
        assert_eq!(rsa_spki_to_pkcs1(&longer), None);
        // Long-form lengths beyond four bytes, and a zero-length long form.
        assert_eq!(der_element(&[0x30, 0x85, 1, 0, 0, 0, 0]), None);
        assert_eq!(der_element(&[0x30, 0x80]), None);
        assert_eq!(
            der_element(&[0x02, 0x01, 0x07]),
            Some((0x02, &[7u8][..], &[][..]))
        );
        // A modulus of zeros has no size.
        assert_eq!(
            rsa_modulus_bits(&[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x03]),
            None
        );
        // 0x00 0x80 ... : the leading zero does not count.
        assert_eq!(
            rsa_modulus_bits(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x03]),
            Some(8)
        );
    }

    #[test]
    fn pem_text_is_compared_without_regard_to_line_breaks() {
        assert!(same_pem(
            PUBLISHED_ED25519_PUBLIC_KEY,
            &format!("  {}  ", PUBLISHED_ED25519_PUBLIC_KEY.replace('\n', "\r\n"))
        ));
        assert!(!same_pem(
            PUBLISHED_ED25519_PUBLIC_KEY,
            PUBLISHED_RSA_PUBLIC_KEY
        ));
    }
}
