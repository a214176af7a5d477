//! Associated data bound into every seal. Each purpose starts with its own label, so a
//! ciphertext made for one purpose can never be opened as another.

use cdp_domain::{DataKeyId, EventId, TenantId, TenantKeyId};

fn build(label: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut aad =
        Vec::with_capacity(label.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    aad.extend_from_slice(label);
    for part in parts {
        // Every part is a fixed 16-byte id except the master key id, which is last.
        aad.push(b'|');
        aad.extend_from_slice(part);
    }
    aad
}

pub(crate) fn event(tenant: TenantId, event: EventId, key: DataKeyId) -> Vec<u8> {
    build(
        b"cdp.event.v1",
        &[tenant.as_bytes(), event.as_bytes(), key.as_bytes()],
    )
}

pub(crate) fn data_key(tenant: TenantId, key: DataKeyId, wrapped_by: TenantKeyId) -> Vec<u8> {
    build(
        b"cdp.data-key.v1",
        &[tenant.as_bytes(), key.as_bytes(), wrapped_by.as_bytes()],
    )
}

pub(crate) fn tenant_key(tenant: TenantId, key: TenantKeyId, master_id: &str) -> Vec<u8> {
    build(
        b"cdp.tenant-key.v1",
        &[tenant.as_bytes(), key.as_bytes(), master_id.as_bytes()],
    )
}

pub(crate) fn platform_secret(purpose: &str, id: &str, master_id: &str) -> Vec<u8> {
    build(
        b"cdp.platform-secret.v1",
        &[purpose.as_bytes(), id.as_bytes(), master_id.as_bytes()],
    )
}

pub(crate) fn index_key(tenant: TenantId, key: TenantKeyId) -> Vec<u8> {
    build(b"cdp.index-key.v1", &[tenant.as_bytes(), key.as_bytes()])
}
