-- fold 1 of 3 (lua/kfold.lua)
return {
  fold = {
    checksum = "a1b2c3",
    fold = 1,
    folds = 3,
    seed = 1,
    steps = 20,
    test_clusters = {
      [1] = "C3"
    },
    train_clusters = {
      [1] = "C1",
      [2] = "C2"
    }
  },
  test = {{file = 'x.png', {score = 0.93, x = 12.5, y = -3e-2}}},
  unseen = nil
}
