/**
 * drizzle-kit configuration, used only at development time:
 * `npx drizzle-kit generate --name <what-changed>` writes a new SQL migration
 * to daemon/db/migrations from the changes in daemon/db/schema.ts. hobd
 * applies the migrations at start-up (daemon/db/open.ts).
 */
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './daemon/db/schema.ts',
  out: './daemon/db/migrations',
  strict: true,
  verbose: true,
});
