import { pgCore } from '../drizzle.ts';

const { timestamp } = pgCore;
/** Every timestamp is stored with its time zone and read back as a Date. */
export const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const createdAt = () => ts('created_at').notNull().defaultNow();
export const updatedAt = () => ts('updated_at').notNull().defaultNow();
