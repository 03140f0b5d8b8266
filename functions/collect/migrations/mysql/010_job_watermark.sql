-- A job keeps its own watermark: runs a job started move and read the watermark of that job
-- (`job_id`); other runs that of their source and collector (`job_id` = '').
ALTER TABLE collect_watermark ADD COLUMN IF NOT EXISTS job_id CHAR(36) CHARACTER SET ascii NOT NULL DEFAULT '' AFTER collector;
ALTER TABLE collect_watermark DROP PRIMARY KEY, ADD PRIMARY KEY (tenant_id, source, collector, job_id);
