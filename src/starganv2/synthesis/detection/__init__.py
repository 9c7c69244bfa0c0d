"""Detection datasets in and out: COCO, YOLO and Pascal VOC read into one structure
(:mod:`.dataset`), written back in the same format with every original field kept, and the
augmentation that translates each image while its boxes stay where they are (:mod:`.augment`)."""
