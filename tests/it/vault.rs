//! The vault against a store: records copied between tenants fail, rotation re-seals all.

use std::sync::Arc;

use secrecy::ExposeSecret;
use switchboard::credentials::{CredentialKey, CredentialStore, InMemoryCredentialStore};
use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault, VaultError};
use switchboard::ErrorKind;

fn key(b: u8) -> MasterKey {
    MasterKey::from_bytes(&[b; 32]).unwrap()
}

#[tokio::test]
async fn tenant_a_ciphertext_copied_onto_tenant_b_fails_typed() {
    let store = InMemoryCredentialStore::new();
    let v = Vault::new(KeyRing::new(KeyId::new("k1").unwrap(), key(1)));
    let a = CredentialKey::new("tenant-a".into(), "stripe".into(), "config");
    let b = CredentialKey::new("tenant-b".into(), "stripe".into(), "config");
    store
        .save(&a, v.seal(&a, b"sk_live_A").unwrap(), None)
        .await
        .unwrap();
    store
        .save(&b, v.seal(&b, b"sk_live_B").unwrap(), None)
        .await
        .unwrap();
    // An attacker with database access copies A's row onto B's.
    let stolen = store.load(&a).await.unwrap().unwrap().value;
    let cur = store.load(&b).await.unwrap().unwrap().version;
    store.save(&b, stolen, Some(cur)).await.unwrap();
    let row = store.load(&b).await.unwrap().unwrap().value;
    assert_eq!(v.open(&b, &row).unwrap_err(), VaultError::Tampered);
    let err: switchboard::Error = v.open(&b, &row).unwrap_err().into();
    assert_eq!(err.kind(), ErrorKind::Vault);
}

#[tokio::test]
async fn rotation_over_ten_thousand_records_leaves_all_readable_under_the_new_key() {
    let store: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let old = Vault::new(KeyRing::new(KeyId::new("2025").unwrap(), key(1)));
    let keys: Vec<CredentialKey> = (0..10_000)
        .map(|i| {
            CredentialKey::new(
                format!("t{}", i % 97).into(),
                format!("c{i}").into(),
                "config",
            )
        })
        .collect();
    for (i, k) in keys.iter().enumerate() {
        store
            .save(
                k,
                old.seal(k, format!("secret-{i}").as_bytes()).unwrap(),
                None,
            )
            .await
            .unwrap();
    }
    let new = Vault::new(
        KeyRing::new(KeyId::new("2026").unwrap(), key(2))
            .with_active(KeyId::new("2025").unwrap(), key(1)),
    );
    let report = new.rotate(store.as_ref()).await.unwrap();
    assert_eq!((report.resealed, report.current), (10_000, 0));
    // A second pass finds nothing to do.
    assert_eq!(new.rotate(store.as_ref()).await.unwrap().current, 10_000);
    // The old key can now be retired: every record opens without it.
    let retired = Vault::new(
        KeyRing::new(KeyId::new("2026").unwrap(), key(2))
            .with_retired(KeyId::new("2025").unwrap(), key(1)),
    );
    for (i, k) in keys.iter().enumerate() {
        let rec = store.load(k).await.unwrap().unwrap();
        assert_eq!(Vault::key_id_of(&rec.value).unwrap(), "2026");
        assert_eq!(
            retired.open(k, &rec.value).unwrap().expose_secret(),
            format!("secret-{i}").as_bytes()
        );
    }
}

#[test]
fn master_key_from_env_is_checked_and_never_echoed() {
    std::env::set_var("SB_TEST_MASTER_KEY_BAD", "CANARY-not-base64!!");
    let e = MasterKey::from_env("SB_TEST_MASTER_KEY_BAD").unwrap_err();
    assert_eq!(e.setting, "vault.master_key");
    assert!(!e.to_string().contains("CANARY"));
    std::env::set_var("SB_TEST_MASTER_KEY_SHORT", "AAAA");
    assert!(MasterKey::from_env("SB_TEST_MASTER_KEY_SHORT")
        .unwrap_err()
        .reason
        .contains("32 bytes"));
    std::env::set_var(
        "SB_TEST_MASTER_KEY_OK",
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    );
    let k = MasterKey::from_env("SB_TEST_MASTER_KEY_OK").unwrap();
    assert_eq!(format!("{k:?}"), "MasterKey([redacted])");
    assert!(MasterKey::from_env("SB_TEST_MASTER_KEY_MISSING").is_err());
}
