/**
 * The account, as Spacelift's API names it: one Stackyard installation is one account.
 * Its name appears in policy inputs (`account.name`, `session.account_name`) and in
 * `Query.name` (the provider's `spacelift_account`).
 */
export const ACCOUNT = {
  name: "stackyard",
  tier: "SELF_HOSTED",
  /** Spacelift's own AWS account for role assumption; Stackyard has none. */
  spaceliftAwsAccountId: "",
} as const;
