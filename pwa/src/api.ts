// The appliance's HTTP API: one error shape ({error, message, details}) for every refusal.

export type ApiErrorBody = { error: string; message: string; details?: Record<string, unknown> };

/** The appliance answered, and said no. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The appliance could not be reached (Wi-Fi down, appliance restarting). */
export class Unreachable extends Error {}

type CallOptions = { token?: string | null; body?: unknown; timeoutMs?: number };

/** Call /api/v1`path`; the parsed JSON answer, ApiError for a refusal, Unreachable otherwise. */
export async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let payload: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(options.body);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 10_000);
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      signal: controller.signal,
      cache: "no-store",
      ...(payload === undefined ? {} : { body: payload }),
    });
  } catch (error) {
    throw new Unreachable(error instanceof Error ? error.message : String(error));
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 204) return undefined as T;
  let data: unknown = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status >= 502 && response.status <= 504 && data === null) {
      throw new Unreachable(`the appliance answered ${response.status}`);
    }
    const body = (data ?? {}) as Partial<ApiErrorBody>;
    throw new ApiError(
      response.status,
      body.error ?? `http_${response.status}`,
      body.message ?? `the appliance answered ${response.status}`,
      body.details ?? {},
    );
  }
  return data as T;
}
