PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer,
	`scope_prefix` text,
	`max_sandboxes` integer,
	CONSTRAINT "tokens_hash_sha256" CHECK(length("__new_tokens"."hash") = 64 AND "__new_tokens"."hash" NOT GLOB '*[^0-9a-f]*'),
	CONSTRAINT "tokens_scope_prefix" CHECK("__new_tokens"."scope_prefix" IS NULL OR (length("__new_tokens"."scope_prefix") BETWEEN 1 AND 62 AND "__new_tokens"."scope_prefix" NOT GLOB '*[^a-z0-9-]*' AND "__new_tokens"."scope_prefix" NOT GLOB '-*')),
	CONSTRAINT "tokens_max_sandboxes" CHECK("__new_tokens"."max_sandboxes" IS NULL OR "__new_tokens"."max_sandboxes" BETWEEN 0 AND 10000)
);
--> statement-breakpoint
INSERT INTO `__new_tokens`("id", "name", "hash", "created_at", "last_used_at") SELECT "id", "name", "hash", "created_at", "last_used_at" FROM `tokens`;--> statement-breakpoint
DROP TABLE `tokens`;--> statement-breakpoint
ALTER TABLE `__new_tokens` RENAME TO `tokens`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_name_unique` ON `tokens` (`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_hash_unique` ON `tokens` (`hash`);