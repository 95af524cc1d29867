import { poolBudget } from '../profile/pool-budget.js';
import type { ResolvedConfig } from '../profile/resolve.js';

/** The pool size the profile gives a database (its [databases] pool_size, else default_pool_size). */
export function profilePoolSize(config: ResolvedConfig): (database: string) => number | undefined {
  const budget = poolBudget(config);
  return (database) => budget.databases.find((d) => d.name === database)?.poolSize;
}
