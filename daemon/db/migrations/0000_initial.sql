CREATE TABLE `checkpoints` (
	`id` text PRIMARY KEY NOT NULL,
	`sandbox_id` text NOT NULL,
	`seq` integer NOT NULL,
	`comment` text DEFAULT '' NOT NULL,
	`kind` text NOT NULL,
	`auto` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	`size_bytes` integer,
	FOREIGN KEY (`sandbox_id`) REFERENCES `sandboxes`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "checkpoints_seq_positive" CHECK("checkpoints"."seq" >= 1),
	CONSTRAINT "checkpoints_kind" CHECK("checkpoints"."kind" IN ('disk', 'live'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `checkpoints_sandbox_seq` ON `checkpoints` (`sandbox_id`,`seq`);--> statement-breakpoint
CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`sandbox_id` text,
	`type` text NOT NULL,
	`data` text DEFAULT '{}' NOT NULL,
	`at` integer NOT NULL,
	CONSTRAINT "events_data_json" CHECK(json_valid("events"."data"))
);
--> statement-breakpoint
CREATE INDEX `events_sandbox_id` ON `events` (`sandbox_id`,`id`);--> statement-breakpoint
CREATE TABLE `sandboxes` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`state` text NOT NULL,
	`state_since` integer NOT NULL,
	`image` text NOT NULL,
	`cpus` integer NOT NULL,
	`memory_mib` integer NOT NULL,
	`disk_bytes` integer NOT NULL,
	`vmm` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`last_error` text,
	`url_auth` text DEFAULT 'private' NOT NULL,
	`labels` text DEFAULT '[]' NOT NULL,
	`environment` text DEFAULT '{}' NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	`checkpoint_seq` integer DEFAULT 0 NOT NULL,
	CONSTRAINT "sandboxes_name_dns_label" CHECK(length("sandboxes"."name") BETWEEN 1 AND 63 AND "sandboxes"."name" NOT GLOB '*[^a-z0-9-]*' AND "sandboxes"."name" NOT GLOB '-*' AND "sandboxes"."name" NOT GLOB '*-'),
	CONSTRAINT "sandboxes_resources" CHECK("sandboxes"."cpus" > 0 AND "sandboxes"."memory_mib" > 0 AND "sandboxes"."disk_bytes" > 0),
	CONSTRAINT "sandboxes_json" CHECK(json_valid("sandboxes"."labels") AND json_valid("sandboxes"."environment") AND json_valid("sandboxes"."config")),
	CONSTRAINT "sandboxes_checkpoint_seq" CHECK("sandboxes"."checkpoint_seq" >= 0),
	CONSTRAINT "sandboxes_enums" CHECK("sandboxes"."state" IN ('creating', 'running', 'paused', 'hibernated', 'stopped', 'error', 'destroying') AND "sandboxes"."vmm" IN ('qemu', 'cloud-hypervisor') AND "sandboxes"."url_auth" IN ('private', 'public'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sandboxes_name_unique` ON `sandboxes` (`name`);--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer,
	CONSTRAINT "tokens_hash_sha256" CHECK(length("tokens"."hash") = 64 AND "tokens"."hash" NOT GLOB '*[^0-9a-f]*')
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_name_unique` ON `tokens` (`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_hash_unique` ON `tokens` (`hash`);