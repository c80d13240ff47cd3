/** The dashboard's login link on the wire (`POST /v1/dashboard/login`, read by `hob dashboard`). */
import * as z from 'zod';

export const DashboardLoginResponse = z.looseObject({
  /** `http://127.0.0.1:<port>/login?code=<one-time code>`: open it in a browser, once, before `expires_at`. */
  url: z.string(),
  /** ISO 8601. */
  expires_at: z.string(),
});
export type DashboardLoginResponse = z.infer<typeof DashboardLoginResponse>;
