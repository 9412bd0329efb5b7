/** Every property, for the unit test and the fuzz campaign. */
import { PROPERTIES } from './properties';
import { TREE_PROPERTIES } from './treeProperties';

export const ALL_PROPERTIES = [...PROPERTIES, ...TREE_PROPERTIES];
