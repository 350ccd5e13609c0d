//! Everything a running NameServer owns, shared by its processors and its background task.

use std::sync::{Arc, RwLock};

use crate::config::NamesrvConfig;
use crate::kv::KvConfigManager;
use crate::route::RouteInfoManager;

pub struct NamesrvState {
    /// Replaced whole by UPDATE_NAMESRV_CONFIG; readers take a cheap snapshot.
    config: RwLock<Arc<NamesrvConfig>>,
    pub routes: RouteInfoManager,
    pub kv: Arc<KvConfigManager>,
}

impl NamesrvState {
    pub fn new(config: NamesrvConfig, kv: KvConfigManager) -> Self {
        Self {
            config: RwLock::new(Arc::new(config)),
            routes: RouteInfoManager::new(),
            kv: Arc::new(kv),
        }
    }

    /// The current configuration.
    pub fn config(&self) -> Arc<NamesrvConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_config(&self, config: NamesrvConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }
}
