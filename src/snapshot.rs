//! The published snapshot: exposition bytes rendered once per collection plus each site's state, swapped under a lock.

use crate::config::ApiVersion;
use crate::exposition::{Families, Samples};
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the landing page and readiness probe know about one site.
#[derive(Debug, Clone, Default)]
pub struct SiteState {
    pub name: String,
    pub url: String,
    pub up: bool,
    pub api_version: Option<ApiVersion>,
    /// The site has finished its first collection cycle (successfully or not).
    pub first_cycle_done: bool,
    pub last_error: Option<String>,
}

/// An immutable view served to scrapers; readers clone the `Arc` and never block a publisher for long.
#[derive(Debug)]
pub struct Snapshot {
    pub body: Arc<[u8]>,
    pub sites: Vec<SiteState>,
    pub ready: bool,
}

/// Per-site parts and the current snapshot built from them.
pub struct Store {
    families: Families,
    prefix: String,
    parts: Mutex<BTreeMap<String, (Arc<Samples>, SiteState)>>,
    current: RwLock<Arc<Snapshot>>,
}

impl Store {
    pub fn new(families: Families, sites: &[(String, String)]) -> Self {
        let parts = sites
            .iter()
            .map(|(name, url)| {
                let state = SiteState {
                    name: name.clone(),
                    url: url.clone(),
                    ..Default::default()
                };
                (name.clone(), (Arc::new(Samples::default()), state))
            })
            .collect();
        let prefix = format!(
            "# HELP nbu_exporter_build_info Build information of nbu_exporter (value always 1)\n\
             # TYPE nbu_exporter_build_info gauge\n\
             nbu_exporter_build_info{{version=\"{}\",revision=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION"),
            option_env!("NBU_EXPORTER_REVISION").unwrap_or("unknown")
        );
        let store = Store {
            families,
            prefix,
            parts: Mutex::new(parts),
            current: RwLock::new(Arc::new(Snapshot {
                body: Arc::from(&b""[..]),
                sites: Vec::new(),
                ready: false,
            })),
        };
        store.rebuild(&store.parts.lock());
        store
    }

    /// Replaces one site's samples and state and publishes a new snapshot.
    pub fn publish(&self, samples: Samples, state: SiteState) {
        let mut parts = self.parts.lock();
        parts.insert(state.name.clone(), (Arc::new(samples), state));
        self.rebuild(&parts);
    }

    fn rebuild(&self, parts: &BTreeMap<String, (Arc<Samples>, SiteState)>) {
        let samples: Vec<&Samples> = parts.values().map(|(s, _)| s.as_ref()).collect();
        let mut body = Vec::with_capacity(self.prefix.len() + 4096);
        body.extend_from_slice(self.prefix.as_bytes());
        self.families.render(&samples, &mut body);
        let sites: Vec<SiteState> = parts.values().map(|(_, st)| st.clone()).collect();
        let ready = sites.iter().all(|s| s.first_cycle_done);
        let snap = Arc::new(Snapshot {
            body: Arc::from(body),
            sites,
            ready,
        });
        *self.current.write() = snap;
    }

    /// The current snapshot (a pointer copy).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().clone()
    }
}
