-- switchboard: delivered messages are purged after a retention period, oldest first, in
-- batches (see OutboundQueue::purge_delivered); this index finds them without a scan.
CREATE INDEX switchboard_outbound_messages_done
    ON switchboard_outbound_messages (status, updated_ms);
