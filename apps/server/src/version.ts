export const STACKYARD_VERSION = "0.1.0";
