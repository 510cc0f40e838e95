import { useEffect, useState } from "preact/hooks";
import { ApiError, Unreachable, call } from "./api";
import { syncCatalog } from "./catalog";
import { db } from "./db";
import { device, loadStore, loaded, logout, restore, session } from "./session";
import { Login } from "./screens/Login";
import { OpenShift } from "./screens/OpenShift";
import { Pair } from "./screens/Pair";
import { Receive } from "./screens/Receive";
import { RegisterSettings } from "./screens/RegisterSettings";
import { Returns } from "./screens/Returns";
import { Sell } from "./screens/Sell";
import { ShiftScreen } from "./screens/Shift";
import { StockLookup } from "./screens/StockLookup";
import { PrinterStatus } from "./screens/PrinterStatus";
import { SyncDetail, SyncStatus } from "./screens/SyncStatus";
import { view, type View } from "./nav";
import { loadScannerOptions, startScanStream } from "./scans";
import { kick, refreshOutboxState } from "./till";

const TABS: { view: View; label: string }[] = [
  { view: "sell", label: "Sell" },
  { view: "returns", label: "Returns" },
  { view: "stock", label: "Stock" },
  { view: "receive", label: "Receive" },
  { view: "shift", label: "Shift" },
];

type Shift = { id: string };

/** Whether this tablet still holds, unsent, the event that opened `shift`. */
async function shiftOpenedWaiting(shift: string): Promise<boolean> {
  const waiting = await db.outbox.where("held").equals(0).toArray();
  return waiting.some((row) => row.envelope.type === "shift.opened" && row.envelope.body["shift"] === shift);
}

/** Pair → log in → (open a shift) → sell. */
export function App() {
  const [shift, setShift] = useState<string | null | undefined>(undefined);
  const [catalogVersion, setCatalogVersion] = useState(0);
  const [status, setStatus] = useState<string>("");

  useEffect(() => {
    void loadScannerOptions();
    void restore().then(async () => {
      await refreshOutboxState();
      kick();
    });
    // Whatever is waiting goes as soon as the network is back, and is retried meanwhile.
    const online = () => kick();
    window.addEventListener("online", online);
    const timer = setInterval(kick, 15_000);
    return () => {
      window.removeEventListener("online", online);
      clearInterval(timer);
    };
  }, []);

  const token = device.value?.token;
  useEffect(() => {
    if (!token) return;
    const refresh = async () => {
      try {
        await loadStore(token);
        setStatus("Updating products…");
        setCatalogVersion(await syncCatalog(db, token));
        performance.mark("tillbox:catalog-synced");
        setStatus("");
      } catch (e) {
        setCatalogVersion((await db.get<number>("catalog_version")) ?? 0);
        setStatus(e instanceof Unreachable ? "Appliance unreachable: showing the products last seen" : String(e));
      }
    };
    void refresh();
    const timer = setInterval(refresh, 60_000);
    return () => clearInterval(timer);
  }, [token]);

  // Scanners on the appliance bound to this register reach the Sell and Returns screens.
  useEffect(() => (token ? startScanStream(token) : undefined), [token]);

  const staff = session.value;
  useEffect(() => {
    if (!staff || !token) {
      setShift(undefined);
      return;
    }
    // The register's open shift, remembered for a reload while the appliance is away.
    call<Shift>("GET", "/shifts/current", { token })
      .then((s) => {
        void db.put("shift", s.id);
        setShift(s.id);
      })
      .catch(async (e) => {
        if (e instanceof ApiError && e.status === 404) {
          const kept = await db.get<string>("shift");
          // A shift opened on this tablet during an outage is open even if the appliance
          // has not heard of it yet; the outbox still holds its shift.opened.
          const waiting = kept ? await shiftOpenedWaiting(kept) : false;
          setShift(waiting ? kept : null);
          if (!waiting) void db.put("shift", null);
        } else if (e instanceof Unreachable) {
          setShift((await db.get<string>("shift")) ?? null);
        } else {
          setShift(undefined);
        }
      });
  }, [staff, token]);

  const opened = (id: string) => {
    void db.put("shift", id);
    setShift(id);
  };
  const closed = () => {
    void db.put("shift", null);
    view.value = "sell";
    setShift(null);
    void logout();
  };

  if (!loaded.value) return <main class="screen center">Starting…</main>;
  if (!device.value) return <Pair />;
  return (
    <div class="app">
      <header class="bar">
        <button type="button" class="link register-name" onClick={() => (view.value = "register")} aria-label={`${device.value.register.name}: register settings`}>
          {device.value.register.name}
        </button>
        <span class="status" data-testid="catalog-status">{status}</span>
        <SyncStatus onOpen={() => (view.value = "sync")} />
        <PrinterStatus />
        {staff ? (
          <>
            <span>{staff.staff.name}</span>
            <button type="button" class="link" onClick={() => void logout()}>
              Log out
            </button>
          </>
        ) : null}
      </header>
      {staff && shift ? (
        <nav class="tabs" aria-label="Screens">
          {TABS.map((tab) => (
            <button
              type="button"
              key={tab.view}
              class={view.value === tab.view ? "tab current" : "tab"}
              aria-current={view.value === tab.view ? "page" : undefined}
              onClick={() => (view.value = tab.view)}
            >
              {tab.label}
            </button>
          ))}
        </nav>
      ) : null}
      {view.value === "sync" ? (
        <SyncDetail />
      ) : view.value === "register" ? (
        <RegisterSettings />
      ) : !staff ? (
        <Login />
      ) : shift === undefined ? (
        <main class="screen center">Loading…</main>
      ) : shift === null ? (
        <OpenShift onOpened={opened} />
      ) : view.value === "returns" ? (
        <Returns shift={shift} />
      ) : view.value === "stock" ? (
        <StockLookup />
      ) : view.value === "receive" ? (
        <Receive />
      ) : view.value === "shift" ? (
        <ShiftScreen
          shift={shift}
          onClosed={closed}
        />
      ) : (
        <Sell shift={shift} catalogVersion={catalogVersion} />
      )}
    </div>
  );
}
