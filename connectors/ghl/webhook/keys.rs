//! Loading the verifier's public keys from PEM, with errors that name the key and never its
//! text. The `pem` and `simple_asn1` crates read the two shapes GoHighLevel's keys come in
//! (Ed25519 SPKI; RSA SPKI or PKCS#1), so that a wrong or unusable key is refused when the
//! verifier is built instead of failing every request.

use jsonwebtoken::DecodingKey;
use pem::{Pem, PemError};
use simple_asn1::{oid, ASN1Block, BigInt};

use crate::Error;

/// The setting errors about the Ed25519 public key name.
pub(super) const ED25519_PUBLIC_SETTING: &str = "ghl.webhook.ed25519_public_key";
/// The setting errors about the RSA public key name.
pub(super) const RSA_PUBLIC_SETTING: &str = "ghl.webhook.rsa_public_key";

/// The RSA sizes the verifier (ring's `RSA_PKCS1_2048_8192_SHA256`) supports.
const RSA_BITS: std::ops::RangeInclusive<u64> = 2048..=8192;
/// The longest DER read: an 8192-bit RSA SPKI, the largest key supported, is 1,062 bytes with
/// the usual exponent (65537), a few more with a larger one. Anything longer is refused unread,
/// which also bounds how deep `simple_asn1`'s reader (it recurses once per nested element) can
/// go on crafted input: 316 levels, which fit a 2 MiB stack even in a debug build.
const MAX_DER_LEN: usize = 1100;

/// Loads an Ed25519 public key from SPKI PEM.
///
/// # Errors
/// A config error naming [`ED25519_PUBLIC_SETTING`].
pub(super) fn ed25519_public_key(pem: &str) -> Result<DecodingKey, Error> {
    let block = pem_block(pem, &["PUBLIC KEY"], ED25519_PUBLIC_SETTING)?;
    // RFC 8410: algorithm 1.3.101.112 with no parameters, and the 32 key bytes.
    let ed25519 = oid!(1, 3, 101, 112);
    let raw = spki(block.contents())
        .and_then(|(algorithm, raw)| match algorithm.as_slice() {
            [ASN1Block::ObjectIdentifier(_, id)] if *id == ed25519 && raw.len() == 32 => Some(raw),
            _ => None,
        })
        .ok_or_else(|| {
            Error::config(
                ED25519_PUBLIC_SETTING,
                "not an Ed25519 public key (SPKI `PUBLIC KEY`)",
            )
        })?;
    Ok(DecodingKey::from_ed_der(&raw))
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
    let block = pem_block(pem, &["PUBLIC KEY", "RSA PUBLIC KEY"], RSA_PUBLIC_SETTING)?;
    // Both spellings hold a PKCS#1 RSAPublicKey, which is what ring verifies with.
    let pkcs1 = if block.tag() == "RSA PUBLIC KEY" {
        block.into_contents()
    } else {
        rsa_spki_to_pkcs1(block.contents()).ok_or_else(not_rsa)?
    };
    let bits = rsa_modulus_bits(&pkcs1).ok_or_else(not_rsa)?;
    if !RSA_BITS.contains(&bits) {
        return Err(Error::config(
            RSA_PUBLIC_SETTING,
            format!("a {bits}-bit RSA key; 2048 to 8192 bits are supported"),
        ));
    }
    Ok(DecodingKey::from_rsa_der(&pkcs1))
}

/// Whether two PEM texts hold the same block (label and DER), whatever their line endings,
/// wrapping and spacing.
pub(super) fn same_pem(a: &str, b: &str) -> bool {
    match (pem::parse(a), pem::parse(b)) {
        (Ok(a), Ok(b)) => a.tag() == b.tag() && a.contents() == b.contents(),
        _ => false,
    }
}

/// The one PEM block in `text`, if its label is one of `labels`.
///
/// # Errors
/// A config error naming `setting` (and the label found, never the key) when the text is not
/// exactly one PEM block with one of the labels and a base64 body. `pem`'s own messages are
/// not passed on: some of them quote the text.
fn pem_block(text: &str, labels: &[&str], setting: &'static str) -> Result<Pem, Error> {
    let not_pem = || {
        Error::config(
            setting,
            "not PEM (expected `-----BEGIN PUBLIC KEY-----` ... `-----END PUBLIC KEY-----`)",
        )
    };
    let blocks = pem::parse_many(text).map_err(|e| match e {
        PemError::MismatchedTags(..) => {
            Error::config(setting, "the PEM block has no matching END line")
        }
        PemError::InvalidData(_) => Error::config(setting, "the PEM body is not base64"),
        PemError::InvalidHeader(_) => Error::config(
            setting,
            "the PEM body is not base64 (is there a blank line inside the block?)",
        ),
        _ => not_pem(),
    })?;
    // Exactly one: a second key pasted into the same setting would otherwise go unused
    // without a word.
    let block = match <[Pem; 1]>::try_from(blocks) {
        Ok([block]) => block,
        Err(blocks) if blocks.is_empty() => return Err(not_pem()),
        Err(_) => {
            return Err(Error::config(
                setting,
                "several PEM blocks; add each key on its own",
            ))
        }
    };
    if !labels.contains(&block.tag()) {
        let what = if block.tag().contains("PRIVATE") {
            "a private key; give the public key".to_string()
        } else {
            format!(
                "a PEM `{}` block; a public key is needed",
                block.tag().escape_debug()
            )
        };
        return Err(Error::config(setting, what));
    }
    Ok(block)
}

/// The DER elements in `der`, if it is no longer than [`MAX_DER_LEN`] and reads whole.
fn der_blocks(der: &[u8]) -> Option<Vec<ASN1Block>> {
    if der.len() > MAX_DER_LEN {
        return None;
    }
    simple_asn1::from_der(der).ok()
}

/// The algorithm identifier's elements (OID, then any parameters) and the key bytes of a
/// SubjectPublicKeyInfo; `None` for anything else.
fn spki(der: &[u8]) -> Option<(Vec<ASN1Block>, Vec<u8>)> {
    let blocks = der_blocks(der)?;
    let [ASN1Block::Sequence(_, info)] = blocks.as_slice() else {
        return None;
    };
    let [ASN1Block::Sequence(_, algorithm), ASN1Block::BitString(_, bits, key)] = info.as_slice()
    else {
        return None;
    };
    // A key fills its bit string: no unused bits.
    (*bits == key.len() * 8).then(|| (algorithm.clone(), key.clone()))
}

/// The PKCS#1 RSAPublicKey inside an RSA SubjectPublicKeyInfo; `None` for anything else.
fn rsa_spki_to_pkcs1(der: &[u8]) -> Option<Vec<u8>> {
    let (algorithm, pkcs1) = spki(der)?;
    // rsaEncryption (1.2.840.113549.1.1.1); its NULL parameters are not required.
    match algorithm.as_slice() {
        [ASN1Block::ObjectIdentifier(_, id), ..] if *id == oid!(1, 2, 840, 113549, 1, 1, 1) => {
            Some(pkcs1)
        }
        _ => None,
    }
}

/// The modulus size of a PKCS#1 RSAPublicKey (`SEQUENCE { INTEGER n, INTEGER e }`), in bits;
/// `None` for anything else, a modulus that is not positive included.
fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<u64> {
    let blocks = der_blocks(pkcs1)?;
    let [ASN1Block::Sequence(_, key)] = blocks.as_slice() else {
        return None;
    };
    let [ASN1Block::Integer(_, modulus), ASN1Block::Integer(..)] = key.as_slice() else {
        return None;
    };
    (*modulus > BigInt::from(0u8)).then(|| modulus.bits())
}

#[cfg(test)]
mod tests {
    use super::super::{PUBLISHED_ED25519_PUBLIC_KEY, PUBLISHED_RSA_PUBLIC_KEY};
    use super::*;

    /// The DER of an Ed25519 SPKI up to the 32 key bytes (RFC 8410: algorithm 1.3.101.112, no
    /// parameters, a 33-byte bit string with no unused bits).
    const ED25519_SPKI_PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];

    fn public_key_der(pem: &str) -> Vec<u8> {
        pem_block(pem, &["PUBLIC KEY"], "t")
            .unwrap()
            .into_contents()
    }

    fn setting(e: &Error) -> &'static str {
        use std::error::Error as _;
        assert_eq!(e.kind(), crate::ErrorKind::Config, "{e}");
        e.source()
            .and_then(|s| s.downcast_ref::<crate::ConfigError>())
            .map(|c| c.setting)
            .unwrap_or_else(|| panic!("no ConfigError source: {e}"))
    }

    #[test]
    fn the_published_keys_have_the_expected_shapes() {
        let block = pem_block(PUBLISHED_RSA_PUBLIC_KEY, &["PUBLIC KEY"], "t").unwrap();
        assert_eq!(block.tag(), "PUBLIC KEY");
        let pkcs1 = rsa_spki_to_pkcs1(block.contents()).unwrap();
        assert_eq!(rsa_modulus_bits(&pkcs1), Some(4096));
        let der = public_key_der(PUBLISHED_ED25519_PUBLIC_KEY);
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
        let der = public_key_der(PUBLISHED_RSA_PUBLIC_KEY);
        for cut in 0..der.len() {
            assert_eq!(rsa_spki_to_pkcs1(&der[..cut]), None, "cut at {cut}");
        }
        let mut longer = der.clone();
        longer.push(0);
        assert_eq!(rsa_spki_to_pkcs1(&longer), None);
        // A long-form length past the end of the input, and the zero-length long form.
        assert!(der_blocks(&[0x30, 0x85, 1, 0, 0, 0, 0]).is_none());
        assert!(der_blocks(&[0x30, 0x80]).is_none());
        assert!(matches!(
            der_blocks(&[0x02, 0x01, 0x07]).as_deref(),
            Some([ASN1Block::Integer(_, n)]) if *n == BigInt::from(7u8)
        ));
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
        // 0x80 with no leading zero is a negative INTEGER, not a modulus.
        assert_eq!(
            rsa_modulus_bits(&[0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x03]),
            None
        );
    }

    #[test]
    fn mangled_keys_are_refused_or_loaded_without_panicking() {
        // Every cut of the PEM text, and every DER byte set to values that change a tag or a
        // length's form: each one comes back as a result, and no broken structure loads.
        for text in [PUBLISHED_ED25519_PUBLIC_KEY, PUBLISHED_RSA_PUBLIC_KEY] {
            for cut in 0..text.len() {
                let _ = ed25519_public_key(&text[..cut]);
                let _ = rsa_public_key(&text[..cut]);
            }
        }
        let mangle = |label: &str, der: &[u8], at: usize, byte: u8| {
            let mut mangled = der.to_vec();
            mangled[at] = byte;
            pem::encode(&Pem::new(label, mangled))
        };
        const BYTES: [u8; 10] = [0x00, 0x02, 0x03, 0x30, 0x7f, 0x80, 0x82, 0x84, 0x89, 0xff];
        // Ed25519: any change before the key bytes is refused; the key bytes are not checked.
        let ed = public_key_der(PUBLISHED_ED25519_PUBLIC_KEY);
        for at in 0..ed.len() {
            for byte in BYTES {
                let text = mangle("PUBLIC KEY", &ed, at, byte);
                let loads = at >= ED25519_SPKI_PREFIX.len() || byte == ed[at];
                assert_eq!(ed25519_public_key(&text).is_ok(), loads, "{at}: {byte:#x}");
                assert!(rsa_public_key(&text).is_err());
            }
        }
        let rsa = public_key_der(PUBLISHED_RSA_PUBLIC_KEY);
        let pkcs1 = rsa_spki_to_pkcs1(&rsa).unwrap();
        for (label, der) in [("PUBLIC KEY", rsa), ("RSA PUBLIC KEY", pkcs1)] {
            for at in 0..der.len() {
                for byte in BYTES {
                    let text = mangle(label, &der, at, byte);
                    let _ = rsa_public_key(&text);
                    assert!(ed25519_public_key(&text).is_err());
                }
            }
        }
    }

    /// `inner` wrapped in a SEQUENCE, with the shortest length form.
    fn sequence_of(inner: &[u8]) -> Vec<u8> {
        let mut out = vec![0x30];
        match u8::try_from(inner.len()) {
            Ok(len) if len < 0x80 => out.push(len),
            Ok(len) => out.extend([0x81, len]),
            Err(_) => out.extend(
                [0x82]
                    .into_iter()
                    .chain(u16::try_from(inner.len()).unwrap().to_be_bytes()),
            ),
        }
        out.extend(inner);
        out
    }

    #[test]
    fn deeply_nested_or_oversized_der_is_refused_without_overflowing_the_stack() {
        // SEQUENCEs nested as deep as MAX_DER_LEN allows (316 levels), an INTEGER inside: it
        // reads on a test thread's stack (the reader recurses once a level), and is not a key.
        let mut nested = vec![0x02, 0x01, 0x07];
        let mut levels = 0;
        while sequence_of(&nested).len() <= MAX_DER_LEN {
            nested = sequence_of(&nested);
            levels += 1;
        }
        assert_eq!(levels, 316);
        assert!(der_blocks(&nested).is_some());
        assert_eq!(rsa_spki_to_pkcs1(&nested), None);
        assert_eq!(rsa_modulus_bits(&nested), None);
        // One level more is past the cap, refused unread.
        assert!(der_blocks(&sequence_of(&nested)).is_none());
    }

    #[test]
    fn pem_text_around_the_block_is_ignored_but_a_second_block_is_refused() {
        let labelled = format!("GoHighLevel's key:\n{PUBLISHED_ED25519_PUBLIC_KEY}\n");
        assert!(ed25519_public_key(&labelled).is_ok());
        let two = format!("{PUBLISHED_ED25519_PUBLIC_KEY}\n{PUBLISHED_ED25519_PUBLIC_KEY}");
        let e = ed25519_public_key(&two).err().expect("refused");
        assert_eq!(setting(&e), ED25519_PUBLIC_SETTING);
        assert!(e.to_string().contains("several PEM blocks"), "{e}");
        let e = rsa_public_key(&format!(
            "{PUBLISHED_RSA_PUBLIC_KEY}\n{PUBLISHED_RSA_PUBLIC_KEY}"
        ))
        .err()
        .expect("refused");
        assert_eq!(setting(&e), RSA_PUBLIC_SETTING);
    }

    #[test]
    fn pem_errors_name_the_setting_and_never_quote_the_key() {
        let blank_line = PUBLISHED_ED25519_PUBLIC_KEY.replacen('\n', "\n\n", 2);
        let bad_base64 = PUBLISHED_ED25519_PUBLIC_KEY.replace("MCow", "MC*w");
        let mismatched = PUBLISHED_ED25519_PUBLIC_KEY.replace("END PUBLIC", "END RSA PUBLIC");
        for (text, says) in [
            (blank_line.as_str(), "blank line"),
            (bad_base64.as_str(), "not base64"),
            (mismatched.as_str(), "no matching END"),
            ("MCowBQYDK2VwAyEA", "not PEM"),
            ("", "not PEM"),
        ] {
            let e = ed25519_public_key(text).err().expect("refused");
            assert_eq!(setting(&e), ED25519_PUBLIC_SETTING);
            assert!(e.to_string().contains(says), "{e}");
            assert!(!e.to_string().contains("MCow"), "{e}");
        }
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
        // The DER is compared, not the text: other line lengths are the same key.
        let rewrapped = pem::encode_config(
            &pem::parse(PUBLISHED_RSA_PUBLIC_KEY).unwrap(),
            pem::EncodeConfig::new().set_line_wrap(40),
        );
        assert_ne!(
            rewrapped.lines().nth(1),
            PUBLISHED_RSA_PUBLIC_KEY.lines().nth(1)
        );
        assert!(same_pem(&rewrapped, PUBLISHED_RSA_PUBLIC_KEY));
    }
}
