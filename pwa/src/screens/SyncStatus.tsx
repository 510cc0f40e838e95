import { useEffect, useState } from "preact/hooks";
import { outboxState } from "../till";

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 60 ? `${m} min` : `${Math.round(m / 60)} h`;
}

/** The sync indicator on every screen: what is waiting on this tablet, and since when. */
export function SyncStatus() {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 5000);
    return () => clearInterval(timer);
  }, []);
  const state = outboxState.value;
  const lastAck = state.lastAckAt === null ? "" : ` · last sent ${ago(now - state.lastAckAt)} ago`;
  if (state.waiting === 0) {
    return (
      <span class="sync ok" data-testid="sync" title="Everything on this tablet is on the appliance">
        All sent{lastAck}
      </span>
    );
  }
  const oldest = state.oldestAt === null ? "" : `, oldest ${ago(now - state.oldestAt)}`;
  return (
    <span class="sync waiting" data-testid="sync" role="status">
      {state.waiting} waiting on this tablet{oldest}
      {state.pushing ? " · sending…" : ""}
    </span>
  );
}
