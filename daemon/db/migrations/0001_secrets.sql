CREATE TABLE `secret_grants` (
	`sandbox_id` text NOT NULL,
	`secret_name` text NOT NULL,
	`env` text NOT NULL,
	`placeholder` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`sandbox_id`, `secret_name`),
	FOREIGN KEY (`sandbox_id`) REFERENCES `sandboxes`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`secret_name`) REFERENCES `secrets`(`name`) ON UPDATE cascade ON DELETE cascade,
	CONSTRAINT "secret_grants_env" CHECK(length("secret_grants"."env") BETWEEN 1 AND 128 AND "secret_grants"."env" NOT GLOB '*[^A-Za-z0-9_]*' AND "secret_grants"."env" NOT GLOB '[0-9]*'),
	CONSTRAINT "secret_grants_placeholder" CHECK("secret_grants"."placeholder" GLOB 'hob-secret-*')
);
--> statement-breakpoint
CREATE UNIQUE INDEX `secret_grants_placeholder_unique` ON `secret_grants` (`placeholder`);--> statement-breakpoint
CREATE UNIQUE INDEX `secret_grants_sandbox_env` ON `secret_grants` (`sandbox_id`,`env`);--> statement-breakpoint
CREATE TABLE `secrets` (
	`name` text PRIMARY KEY NOT NULL,
	`hosts` text NOT NULL,
	`value_sealed` blob NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	CONSTRAINT "secrets_name" CHECK(length("secrets"."name") BETWEEN 1 AND 64 AND "secrets"."name" NOT GLOB '*[^A-Za-z0-9_-]*' AND "secrets"."name" GLOB '[A-Za-z]*'),
	CONSTRAINT "secrets_hosts_json" CHECK(json_valid("secrets"."hosts") AND json_type("secrets"."hosts") = 'array' AND json_array_length("secrets"."hosts") >= 1),
	CONSTRAINT "secrets_value_sealed" CHECK(length("secrets"."value_sealed") > 29)
);
