-- What the Spacelift clients send must read back the same (issue 13).
--
-- A stack's vendor arrives either as `terraform { workflowTool, version }` or as
-- `opentofu { }`, and the Terraform provider reads it back by GraphQL type
-- (StackConfigVendorTerraform or StackConfigVendorOpenTofu): the workflow tool alone
-- cannot tell the two apart, so the form is kept. Stacks stored before this answered
-- StackConfigVendorOpenTofu when their tool was OPEN_TOFU, and keep doing so.
ALTER TABLE stacks
  ADD COLUMN vendor text NOT NULL DEFAULT 'TERRAFORM' CHECK (vendor IN ('TERRAFORM', 'OPENTOFU'));
UPDATE stacks SET vendor = 'OPENTOFU' WHERE workflow_tool = 'OPEN_TOFU';

-- A worker pool's token, encrypted with the installation's data key, so that
-- `WorkerPool.config` reads back what was issued (a refresh must not wipe it from the
-- provider's state). Pools issued before this have none until their next reset.
ALTER TABLE worker_pools ADD COLUMN token_encrypted text;
