//! The checks a message passes before it is encoded: topic length, properties length, maxMessageSize, batch rules.

use sluice_remoting::message::{property, sysflag, MessageRecord, MAX_PROPERTIES_LEN};

use crate::config::MessageStoreConfig;
use crate::error::{Result, StoreError};

/// Bytes a whole record may exceed `maxMessageSize` by (headers, topic, properties), as in 4.9.7/5.x.
const RECORD_OVERHEAD_ALLOWANCE: usize = 64 * 1024;

/// Validates one message against the store's limits (Apache's checkMessage / MessageExtEncoder checks).
pub(crate) fn check_message(config: &MessageStoreConfig, msg: &MessageRecord) -> Result<()> {
    let topic = msg.topic.as_str();
    if topic.is_empty() || topic.len() > 255 || (topic.len() > 127 && !topic.starts_with("%RETRY%"))
    {
        return Err(StoreError::MessageIllegal {
            reason: format!(
                "topic of {} bytes (1..=127 allowed, 255 for retry topics)",
                topic.len()
            ),
        });
    }
    if msg.properties.len() > MAX_PROPERTIES_LEN {
        return Err(StoreError::PropertiesTooLong {
            len: msg.properties.len(),
        });
    }
    if msg.body.len() > config.max_message_size {
        return Err(StoreError::MessageTooLarge {
            size: msg.body.len(),
            max: config.max_message_size,
        });
    }
    let total = msg.encoded_len();
    if total > config.max_message_size + RECORD_OVERHEAD_ALLOWANCE {
        return Err(StoreError::MessageTooLarge {
            size: total,
            max: config.max_message_size + RECORD_OVERHEAD_ALLOWANCE,
        });
    }
    msg.validate().map_err(|e| StoreError::MessageIllegal {
        reason: e.to_string(),
    })
}

/// WAIT=false opts a message out of the SYNC_FLUSH wait (Apache's `isWaitStoreMsgOK`, default true).
pub(crate) fn msg_wants_wait(properties: &str) -> bool {
    property::find(properties, property::WAIT) != Some("false")
}

/// Batches: one topic and queue, no transactional or delayed messages (Apache rejects those as MESSAGE_ILLEGAL).
pub(crate) fn check_batch(msgs: &[MessageRecord]) -> Result<()> {
    let Some(first) = msgs.first() else {
        return Err(StoreError::MessageIllegal {
            reason: "empty batch".into(),
        });
    };
    for m in msgs {
        if m.topic != first.topic || m.queue_id != first.queue_id {
            return Err(StoreError::MessageIllegal {
                reason: "all messages of a batch must have the same topic and queue".into(),
            });
        }
        if m.sysflag & sysflag::TRANSACTION_TYPE_MASK != sysflag::TRANSACTION_NOT {
            return Err(StoreError::MessageIllegal {
                reason: "batch messages cannot be transactional".into(),
            });
        }
        if property::find(&m.properties, property::DELAY)
            .and_then(|d| d.parse::<i32>().ok())
            .is_some_and(|l| l > 0)
        {
            return Err(StoreError::MessageIllegal {
                reason: "batch messages cannot be delayed".into(),
            });
        }
    }
    Ok(())
}
