-- An inode number is unsigned 64-bit: some filesystems (CIFS, NFS, FUSE mounts) hand out numbers
-- above 2^63 - 1, which bigint cannot hold, and the collection of such a file failed at every
-- run. numeric(20, 0) holds every 64-bit value; the code reads and writes it as text.
ALTER TABLE guest_log_offsets ALTER COLUMN inode TYPE numeric(20, 0);
