//! The GPUs a Pod can have, with their prices: the one place they are
//! written down. A Pod copies its price at creation, so changing a price
//! here does not reprice Pods that already exist.

pub struct GpuType {
    /// The value stored in `pods.gpu_type` and sent by the form.
    pub id: &'static str,
    pub label: &'static str,
    pub memory_gb: u32,
    /// Price of one GPU for one hour, in cents.
    pub hourly_price_cents: i64,
}

pub const CATALOGUE: &[GpuType] = &[
    GpuType {
        id: "rtx-4090",
        label: "RTX 4090",
        memory_gb: 24,
        hourly_price_cents: 69,
    },
    GpuType {
        id: "l40s",
        label: "L40S",
        memory_gb: 48,
        hourly_price_cents: 99,
    },
    GpuType {
        id: "a100-80gb",
        label: "A100 80GB",
        memory_gb: 80,
        hourly_price_cents: 189,
    },
    GpuType {
        id: "h100-80gb",
        label: "H100 80GB",
        memory_gb: 80,
        hourly_price_cents: 299,
    },
];

pub fn find(id: &str) -> Option<&'static GpuType> {
    CATALOGUE.iter().find(|g| g.id == id)
}

/// The label of a stored GPU type (the id itself if it left the catalogue).
pub fn label(id: &str) -> &str {
    find(id).map_or(id, |g| g.label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gpu_type_is_unique_and_priced() {
        for (i, gpu) in CATALOGUE.iter().enumerate() {
            assert!(gpu.hourly_price_cents > 0, "{}", gpu.id);
            assert!(CATALOGUE[i + 1..].iter().all(|g| g.id != gpu.id));
        }
        assert_eq!(find("h100-80gb").map(|g| g.label), Some("H100 80GB"));
        assert!(find("tpu").is_none());
    }
}
