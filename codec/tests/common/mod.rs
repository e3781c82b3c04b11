//! What the codec's integration tests share.

/// JSON-ish evidence: the generator the Node known answers (`NODE_V1_ENVELOPE`, the gzip
/// vectors) were made from.
pub(crate) fn json_payload(len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut x: u32 = 12345;
    let mut i = 0u32;
    while out.len() < len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let v = (x >> 16) & 0x7fff;
        out.extend_from_slice(
            format!(
                r#"{{"id":{i},"path":"/api/v1/items/{v}","q":"' OR {}={} --","ua":"Mozilla/5.0 ({})"}},"#,
                v % 97,
                v % 89,
                v % 13
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}
